"""Building activity, a plain reference for the VLE-minutes rule, and a simulated stream.

The reference (`expected_days`) is written straight from SPEC "Measures" with nothing shared
with `scoring.sessionize`: sorted events, the gap rule, and local days taken from `zoneinfo`
with integer arithmetic. The tests compare the sessionizer against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from scoring.measures import Activity, DayTotals, Kind
from scoring.sessionize import ActivityState, ApplyOutcome, apply, prune, rebuild_from, view
from scoring.timebase import MINUTE_MS, LocalCalendar, to_ms

LONDON_NAME = "Europe/London"
LONDON = ZoneInfo(LONDON_NAME)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATENESS_MS = 10 * MINUTE_MS
FAR_FUTURE_MS = to_ms(datetime(2100, 1, 1, tzinfo=UTC))
SPEC_GAP_MS = 5 * MINUTE_MS
SPEC_LAST_CLICK_MS = 2 * MINUTE_MS

# What a day's measures look like with zero-length credits and empty days left out.
DayFigures = tuple[tuple[tuple[str, int], ...], int, int, int]


def local_ms(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int = 0,
    second: int = 0,
    *,
    fold: int = 0,
) -> int:
    """Epoch milliseconds of a London wall-clock time; `fold=1` picks the second 01:xx of
    the autumn change day."""
    moment = datetime(year, month, day, hour, minute, second, tzinfo=LONDON, fold=fold)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def click(event_id: str, at_ms: int, module: str | None = "A") -> Activity:
    return Activity(event_id, Kind.CLICK, at_ms, module)


def app(event_id: str, at_ms: int) -> Activity:
    return Activity(event_id, Kind.APP, at_ms)


def checkin(event_id: str, at_ms: int) -> Activity:
    return Activity(event_id, Kind.CHECKIN, at_ms)


def local_day(at_ms: int, timezone: ZoneInfo = LONDON) -> date:
    return (EPOCH + timedelta(milliseconds=at_ms)).astimezone(timezone).date()


def expected_days(activities: Iterable[Activity], timezone: ZoneInfo = LONDON
                  ) -> dict[date, DayFigures]:
    """SPEC "Measures" applied to the whole history at once, by the plainest means."""
    unique: dict[str, Activity] = {}
    for activity in activities:
        unique.setdefault(activity.event_id, activity)
    ordered = sorted(unique.values(), key=lambda a: (a.at_ms, a.event_id))
    modules: dict[date, dict[str, int]] = {}
    no_module: dict[date, int] = {}
    apps: dict[date, int] = {}
    checkins: dict[date, int] = {}
    clicks = [a for a in ordered if a.kind is Kind.CLICK]
    for index, earlier in enumerate(clicks):
        if index + 1 < len(clicks):
            gap = clicks[index + 1].at_ms - earlier.at_ms
            credit = gap if gap < SPEC_GAP_MS else SPEC_LAST_CLICK_MS
        else:
            credit = SPEC_LAST_CLICK_MS
        day = local_day(earlier.at_ms, timezone)
        if earlier.module is None:
            no_module[day] = no_module.get(day, 0) + credit
        else:
            per_module = modules.setdefault(day, {})
            per_module[earlier.module] = per_module.get(earlier.module, 0) + credit
    for activity in ordered:
        day = local_day(activity.at_ms, timezone)
        if activity.kind is Kind.APP:
            apps[day] = apps.get(day, 0) + 1
        elif activity.kind is Kind.CHECKIN:
            checkins[day] = checkins.get(day, 0) + 1
    days = set(modules) | set(no_module) | set(apps) | set(checkins)
    figures = {
        day: (
            tuple(sorted((m, ms) for m, ms in modules.get(day, {}).items() if ms)),
            no_module.get(day, 0),
            apps.get(day, 0),
            checkins.get(day, 0),
        )
        for day in days
    }
    return {day: f for day, f in figures.items() if f != ((), 0, 0, 0)}


def figures_of(shown: dict[date, DayTotals]) -> dict[date, DayFigures]:
    """The sessionizer's output in the reference's shape."""
    figures = {
        day: (
            tuple(sorted((m, ms) for m, ms in totals.module_ms.items() if ms)),
            totals.no_module_ms,
            totals.app_choices,
            totals.event_checkins,
        )
        for day, totals in shown.items()
    }
    return {day: f for day, f in figures.items() if f != ((), 0, 0, 0)}


@dataclass
class SimulatedStream:
    """Feeds one student's activity to `apply` as the stream does: every activity ever given
    is kept in a store, late activity refolds from the day before the earliest late one, and
    old days are pruned after each batch."""

    calendar: LocalCalendar = field(default_factory=lambda: LocalCalendar(LONDON_NAME))
    lateness_ms: int = LATENESS_MS
    state: ActivityState = field(default_factory=ActivityState)
    store: dict[str, Activity] = field(default_factory=dict)
    late: list[Activity] = field(default_factory=list)
    duplicates: list[Activity] = field(default_factory=list)
    # What the stream wrote for days it has since pruned from its state (ClickHouse's copy).
    written: dict[date, DayTotals] = field(default_factory=dict)

    def deliver(self, batch: Sequence[Activity]) -> ApplyOutcome:
        for activity in batch:
            self.store.setdefault(activity.event_id, activity)
        outcome = apply(self.state, batch, lateness_ms=self.lateness_ms, calendar=self.calendar)
        self.late.extend(outcome.late)
        self.duplicates.extend(outcome.duplicates)
        if outcome.late:
            first = min(self.calendar.day_of(a.at_ms) for a in outcome.late)
            rebuild_from(self.state, first - timedelta(days=1), self.store.values(),
                         calendar=self.calendar)
        before = {d: t.copy() for d, t in self.state.days.items()}
        prune(self.state, self.calendar)
        self.written.update({d: t for d, t in before.items() if d not in self.state.days})
        return outcome

    def deliver_all(self, batches: Iterable[Sequence[Activity]]) -> SimulatedStream:
        for batch in batches:
            self.deliver(batch)
        return self

    def days(self) -> set[date]:
        return {self.calendar.day_of(a.at_ms) for a in self.store.values()}

    def shown(self, clock_ms: int = FAR_FUTURE_MS) -> dict[date, DayTotals]:
        live = view(self.state, self.days(), clock_ms=clock_ms, calendar=self.calendar)
        held = set(self.state.days) | {self.calendar.day_of(a.at_ms) for a in self.state.pending}
        if self.state.open_click is not None:
            held.add(self.calendar.day_of(self.state.open_click[0]))
        return {d: (live[d] if d in held or d not in self.written else self.written[d])
                for d in live}


def in_batches(activities: Sequence[Activity], sizes: Iterable[int]) -> list[list[Activity]]:
    """Cut `activities` into consecutive batches of the given sizes (the rest in one batch)."""
    batches: list[list[Activity]] = []
    index = 0
    for size in sizes:
        if index >= len(activities):
            break
        batches.append(list(activities[index:index + size]))
        index += size
    if index < len(activities):
        batches.append(list(activities[index:]))
    return batches
