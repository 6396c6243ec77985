"""Building activity and folding it the way the stream does, for the scoring tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from scoring.measures import Activity, DayTotals, Kind
from scoring.sessionize import ActivityState, apply, rebuild_from, view
from scoring.timebase import MINUTE_MS, LocalCalendar, to_ms

LONDON = ZoneInfo("Europe/London")
LATENESS_MS = 10 * MINUTE_MS
FAR_FUTURE_MS = to_ms(datetime(2100, 1, 1, tzinfo=LONDON))


def local_ms(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0,
             fold: int = 0) -> int:
    return to_ms(datetime(year, month, day, hour, minute, second, tzinfo=LONDON, fold=fold))


def click(event_id: str, at_ms: int, module: str | None = "A") -> Activity:
    return Activity(event_id, Kind.CLICK, at_ms, module)


def app(event_id: str, at_ms: int) -> Activity:
    return Activity(event_id, Kind.APP, at_ms)


def checkin(event_id: str, at_ms: int) -> Activity:
    return Activity(event_id, Kind.CHECKIN, at_ms)


def all_days(activities: Iterable[Activity], calendar: LocalCalendar) -> set[date]:
    return {calendar.day_of(a.at_ms) for a in activities}


def fold_in_batches(batches: Sequence[Sequence[Activity]], calendar: LocalCalendar,
                    lateness_ms: int = LATENESS_MS) -> dict[date, DayTotals]:
    """Fold batches as the stream does, refolding from a simulated store on late activity."""
    state = ActivityState()
    store: dict[str, Activity] = {}
    for batch in batches:
        for activity in batch:
            store.setdefault(activity.event_id, activity)
        outcome = apply(state, batch, lateness_ms=lateness_ms, calendar=calendar)
        if outcome.late:
            first = min(calendar.day_of(a.at_ms) for a in outcome.late)
            rebuild_from(state, first.fromordinal(first.toordinal() - 1), store.values(),
                         calendar=calendar)
    days = all_days(store.values(), calendar)
    return view(state, days, clock_ms=FAR_FUTURE_MS, calendar=calendar)


def minutes(totals: DayTotals) -> dict[str, float]:
    return totals.minutes_by_module()
