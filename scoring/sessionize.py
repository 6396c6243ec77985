"""The per-student activity state: a reorder buffer in front of the VLE-minutes gap rule.

Events within the lateness bound of the student's newest event *of the same kind* wait in
`pending`, sorted, so any arrival order inside that bound folds exactly as in-order delivery
would. Events older than the bound are *late*: the caller stores them and calls `rebuild` with
the student's stored activity, which refolds the days they touch.

Each kind has its own bound because each arrives on its own topic: Kafka keeps one student's
clicks in order, but a consumer catching up may read their app choices days ahead of their
clicks. App choices and check-ins are counts, so their order never matters, and clicks are
judged only against clicks. The gap rule (SPEC "Measures"):

- a gap under 5 minutes counts whole for the earlier click's module, on the earlier click's day;
- a gap of 5 minutes or more, and a last click once 5 quiet minutes pass, count 2 minutes.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from scoring.measures import Activity, DayTotals, Kind
from scoring.timebase import MINUTE_MS, LocalCalendar

GAP_MS = 5 * MINUTE_MS
LAST_CLICK_MS = 2 * MINUTE_MS
DAYS_KEPT = 8
# How far one kind of activity may run ahead of another (a consumer catching up reads small
# topics first) before the days behind are forgotten and their later activity refolded from
# storage: a bound on the state a student's slowest kind can hold open.
SKEW_DAYS_KEPT = 35


@dataclass(slots=True)
class ActivityState:
    """Everything the sessionizer needs to resume exactly: snapshot with `to_dict`."""

    max_seen: dict[Kind, int] = field(default_factory=dict)
    final_upto: dict[Kind, int] = field(default_factory=dict)
    open_click: tuple[int, str | None] | None = None
    pending: list[Activity] = field(default_factory=list)
    days: dict[date, DayTotals] = field(default_factory=dict)
    # Days before this one were pruned: activity dated before it is late, whatever its kind.
    kept_from: date | None = None

    @property
    def newest_ms(self) -> int | None:
        """The time of the student's newest activity of any kind."""
        return max(self.max_seen.values(), default=None)

    def clone(self) -> ActivityState:
        """An independent copy, as `from_dict(to_dict())` gives but without the round trip."""
        return ActivityState(
            max_seen=dict(self.max_seen), final_upto=dict(self.final_upto),
            open_click=self.open_click, pending=list(self.pending),
            days={day: totals.copy() for day, totals in self.days.items()},
            kept_from=self.kept_from,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_seen": {k.value: ms for k, ms in self.max_seen.items()},
            "final_upto": {k.value: ms for k, ms in self.final_upto.items()},
            "open": list(self.open_click) if self.open_click else None,
            "pending": [a.to_list() for a in self.pending],
            "days": {d.isoformat(): t.to_list() for d, t in self.days.items()},
            "kept_from": self.kept_from.isoformat() if self.kept_from else None,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ActivityState:
        open_click = raw.get("open")
        return cls(
            max_seen=_per_kind(raw.get("max_seen")),
            final_upto=_per_kind(raw.get("final_upto")),
            open_click=(int(open_click[0]), open_click[1]) if open_click else None,
            pending=[Activity.from_list(a) for a in raw.get("pending", [])],
            days={date.fromisoformat(d): DayTotals.from_list(t) for d, t in raw["days"].items()},
            kept_from=date.fromisoformat(raw["kept_from"]) if raw.get("kept_from") else None,
        )


def _per_kind(raw: dict[str, int] | int | None) -> dict[Kind, int]:
    """Per-kind times from a snapshot; snapshots written before kinds had their own bound
    hold one time for all of them."""
    if raw is None:
        return {}
    if isinstance(raw, int):
        return dict.fromkeys(Kind, raw)
    return {Kind(kind): int(ms) for kind, ms in raw.items()}


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    accepted: list[Activity]
    late: list[Activity]
    duplicates: list[Activity]
    touched_days: set[date]


def _fold(
    days: dict[date, DayTotals],
    open_click: tuple[int, str | None] | None,
    activity: Activity,
    calendar: LocalCalendar,
) -> tuple[int, str | None] | None:
    """Add one activity in time order; returns the click still waiting for its successor."""
    if activity.kind is not Kind.CLICK:
        totals = days.setdefault(calendar.day_of(activity.at_ms), DayTotals())
        if activity.kind is Kind.APP:
            totals.app_choices += 1
        else:
            totals.event_checkins += 1
        return open_click
    if open_click is not None:
        previous_ms, previous_module = open_click
        gap = activity.at_ms - previous_ms
        credit = gap if gap < GAP_MS else LAST_CLICK_MS
        days.setdefault(calendar.day_of(previous_ms), DayTotals()).credit_minutes(
            previous_module, credit
        )
    else:
        days.setdefault(calendar.day_of(activity.at_ms), DayTotals())
    return (activity.at_ms, activity.module)


def _close_if_quiet(
    days: dict[date, DayTotals],
    open_click: tuple[int, str | None] | None,
    quiet_until_ms: int,
    calendar: LocalCalendar,
) -> tuple[int, str | None] | None:
    # A successor at or after +5 min would also give 2 minutes, so closing here is never wrong.
    if open_click is None or quiet_until_ms - open_click[0] < GAP_MS:
        return open_click
    days.setdefault(calendar.day_of(open_click[0]), DayTotals()).credit_minutes(
        open_click[1], LAST_CLICK_MS
    )
    return None


def _affected_days(state: ActivityState, calendar: LocalCalendar) -> set[date]:
    """Days whose shown minutes new clicks may change: a click's minutes depend on the click
    after it. Pending app choices and check-ins are not among them: the view already counts
    them, and folding them changes nothing shown (a student whose last app choice was last week
    would otherwise have that week's rows rewritten with every click)."""
    affected = {calendar.day_of(a.at_ms) for a in state.pending if a.kind is Kind.CLICK}
    if state.open_click is not None:
        affected.add(calendar.day_of(state.open_click[0]))
    return affected


def apply(
    state: ActivityState,
    activities: Iterable[Activity],
    *,
    lateness_ms: int,
    calendar: LocalCalendar,
) -> ApplyOutcome:
    """Take new activity in any order; fold what the lateness bound has made final."""
    touched = _affected_days(state, calendar)
    pending_ids = {a.event_id for a in state.pending}
    accepted: list[Activity] = []
    late: list[Activity] = []
    duplicates: list[Activity] = []
    for activity in activities:
        if _is_late(state, activity, calendar):
            late.append(activity)
            continue
        if activity.event_id in pending_ids:
            duplicates.append(activity)
            continue
        pending_ids.add(activity.event_id)
        bisect.insort(state.pending, activity, key=Activity.order_key)
        accepted.append(activity)
        touched.add(calendar.day_of(activity.at_ms))
        _note_seen(state, activity)
    for kind, newest_ms in list(state.max_seen.items()):
        _advance(state, kind, newest_ms - lateness_ms, calendar)
    return ApplyOutcome(accepted, late, duplicates, touched)


def _note_seen(state: ActivityState, activity: Activity) -> None:
    if activity.at_ms > state.max_seen.get(activity.kind, activity.at_ms - 1):
        state.max_seen[activity.kind] = activity.at_ms


def _is_late(state: ActivityState, activity: Activity, calendar: LocalCalendar) -> bool:
    """Older than its kind's bound, or dated on a day whose totals were already forgotten."""
    final_upto = state.final_upto.get(activity.kind)
    if final_upto is not None and activity.at_ms < final_upto:
        return True
    return state.kept_from is not None and calendar.day_of(activity.at_ms) < state.kept_from


def _advance(state: ActivityState, kind: Kind, final_upto_ms: int, calendar: LocalCalendar
             ) -> None:
    """Fold the pending activity of `kind` older than `final_upto_ms`, in time order."""
    previous = state.final_upto.get(kind)
    if previous is not None and final_upto_ms <= previous:
        return
    waiting = []
    for activity in state.pending:
        if activity.kind is kind and activity.at_ms < final_upto_ms:
            state.open_click = _fold(state.days, state.open_click, activity, calendar)
        else:
            waiting.append(activity)
    state.pending = waiting
    if kind is Kind.CLICK:
        state.open_click = _close_if_quiet(state.days, state.open_click, final_upto_ms,
                                           calendar)
    state.final_upto[kind] = final_upto_ms


def prune(state: ActivityState, calendar: LocalCalendar) -> None:
    """Forget final totals of days more than a week before the newest activity of the
    student's slowest kind (at most `SKEW_DAYS_KEPT` behind the newest of any kind), and
    treat anything dated before the kept days as late from then on. Call it only after the
    days touched by the latest change were read: a single batch can fold an old day's last
    click and a much newer day at once."""
    newest_ms = state.newest_ms
    if not state.days or newest_ms is None:
        return
    slowest = max(calendar.day_of(min(state.max_seen.values())),
                  calendar.day_of(newest_ms) - timedelta(days=SKEW_DAYS_KEPT))
    oldest_kept = slowest - timedelta(days=DAYS_KEPT - 1)
    forgotten = [d for d in state.days if d < oldest_kept]
    for day in forgotten:
        del state.days[day]
    if forgotten and (state.kept_from is None or oldest_kept > state.kept_from):
        state.kept_from = oldest_kept


def view(
    state: ActivityState,
    days: Iterable[date],
    *,
    clock_ms: int,
    calendar: LocalCalendar,
) -> dict[date, DayTotals]:
    """The measures shown now: final totals plus what is still pending, the last click closed
    once `clock_ms` is 5 minutes past it. Does not change the state."""
    wanted = set(days)
    shown = {d: t.copy() for d, t in state.days.items() if d in wanted}
    scratch: dict[date, DayTotals] = {}
    open_click = state.open_click
    for activity in state.pending:
        open_click = _fold(scratch, open_click, activity, calendar)
    _close_if_quiet(scratch, open_click, clock_ms, calendar)
    for day, extra in scratch.items():
        if day not in wanted:
            continue
        base = shown.setdefault(day, DayTotals())
        for module, ms in extra.module_ms.items():
            base.module_ms[module] = base.module_ms.get(module, 0) + ms
        base.no_module_ms += extra.no_module_ms
        base.app_choices += extra.app_choices
        base.event_checkins += extra.event_checkins
    return {d: shown.get(d, DayTotals()) for d in wanted}


def last_click_counted(state: ActivityState, clock_ms: int) -> bool:
    """Whether the view at `clock_ms` already shows the last click's 2 minutes (or there is
    no click waiting for them)."""
    last_click = last_click_ms(state)
    return last_click is None or clock_ms - last_click >= GAP_MS


def tail_is_open(state: ActivityState) -> bool:
    return bool(state.pending) or state.open_click is not None


def last_click_ms(state: ActivityState) -> int | None:
    clicks = [a.at_ms for a in state.pending if a.kind is Kind.CLICK]
    if clicks:
        return max(clicks)
    return state.open_click[0] if state.open_click else None


def rebuild_from(
    state: ActivityState,
    first_day: date,
    stored: Iterable[Activity],
    *,
    calendar: LocalCalendar,
) -> set[date]:
    """Refold every day from `first_day` on out of the student's stored activity (deduplicated
    by event id, any order), keeping earlier days. Returns the days refolded."""
    start_ms = calendar.start_ms(first_day)
    unique = {a.event_id: a for a in stored if a.at_ms >= start_ms}
    ordered = sorted(unique.values(), key=Activity.order_key)
    for day in [d for d in state.days if d >= first_day]:
        del state.days[day]
    # Any click before first_day got its credit when its successor was folded (see module doc).
    state.open_click = None
    # What waits from before first_day is not refolded: it stays waiting (a student's only
    # check-in can wait for days for another to move its kind's bound on).
    state.pending = [a for a in state.pending if a.at_ms < start_ms]
    refolded: set[date] = set()
    for activity in ordered:
        refolded.add(calendar.day_of(activity.at_ms))
        final_upto = state.final_upto.get(activity.kind)
        if final_upto is not None and activity.at_ms < final_upto:
            state.open_click = _fold(state.days, state.open_click, activity, calendar)
        else:
            state.pending.append(activity)
        _note_seen(state, activity)
    if state.kept_from is not None and first_day < state.kept_from:
        state.kept_from = first_day
    clicks_final_upto = state.final_upto.get(Kind.CLICK)
    if clicks_final_upto is not None:
        state.open_click = _close_if_quiet(state.days, state.open_click, clicks_final_upto,
                                           calendar)
    return refolded
