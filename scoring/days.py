"""Pure per-student steps the stream and the backfill share: score days, evaluate rules.

The callers own I/O; everything here takes the state, configuration and a clock value in and
returns rows to write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from scoring.alerts import consider
from scoring.config import TenantConfig
from scoring.consent import allows
from scoring.measures import DayTotals
from scoring.rules import RuleHit, attendance, engagement_drop, engagement_rise, inactivity
from scoring.scores import WINDOW_DAYS, band_for, coefficients_for, daily_score, score_7d
from scoring.sessionize import view
from scoring.student import StudentState
from scoring.timebase import LocalCalendar, from_ms

MAX_CATCH_UP_DAYS = 14


@dataclass(frozen=True, slots=True)
class MeasureRow:
    day: date
    totals: DayTotals


@dataclass(frozen=True, slots=True)
class ScoreRow:
    day: date
    college: str
    daily_score: float
    score_7d: float
    band: str


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    alert_id: str
    hit: RuleHit
    tutor_id: str | None


def measure_days(
    state: StudentState,
    days: Iterable[date],
    config: TenantConfig,
    *,
    clock_ms: int,
    calendar: LocalCalendar,
    today: date | None,
) -> tuple[list[MeasureRow], list[ScoreRow]]:
    """Measures of `days` as shown now, and the score rows to write (see `score_rows`)."""
    shown = view(state.activity, days, clock_ms=clock_ms, calendar=calendar)
    measure_rows = []
    for day in sorted(shown):
        totals = shown[day]
        measure_rows.append(MeasureRow(day, totals))
        if not totals.is_empty():
            state.note_activity_day(day)
        coefficients = coefficients_for(config, state.college, day)
        state.daily_scores[day] = daily_score(totals, coefficients) if coefficients else 0.0
    return measure_rows, score_rows(state, shown, config, today=today)


def score_rows(state: StudentState, days: Iterable[date], config: TenantConfig, *,
               today: date | None) -> list[ScoreRow]:
    """The score rows that changed days move, and those the tenant's day has reached since the
    student's rows were last written.

    A day's score moves the 7-day average of the six days after it, but a row exists only for
    days the tenant has reached (`today`: the day event time has got to on every partition with
    messages still waiting): a row for a day to come would show an average that assumes no
    activity on it, and writing six rows ahead for every student a batch touches was most of
    the engine's output. A student's activity on a day not reached yet (their topics read ahead
    of others) gets its row when the tenant gets there. Rows for the days `today` moves on to
    are written as it gets there (`carry_forward`), so in the end every day up to `today` whose
    window holds a score has its row, with the same values whatever the order things came in."""
    if state.college is None:
        return []
    days = set(days)
    known = [d for d in (today, state.scored_through) if d is not None]
    through = max(known) if known else max(days, default=None)
    if through is None:
        return []
    affected = {d + timedelta(days=k) for d in days for k in range(WINDOW_DAYS)
                if d + timedelta(days=k) <= through}
    if today is not None:
        affected |= _days_not_written(state, today)
        state.scored_through = through
    return _rows(state, sorted(affected), config)


def carry_due(state: StudentState, today: date) -> bool:
    """Whether `today` has reached days without the student's rows that a score of the six
    days before still counts in (most students, the first batch of a new day)."""
    return state.college is not None and bool(_days_not_written(state, today))


def carry_forward(state: StudentState, config: TenantConfig, today: date) -> list[ScoreRow]:
    """The rows `carry_due` finds missing; the student's rows then reach `today`."""
    return score_rows(state, (), config, today=today)


def _days_not_written(state: StudentState, today: date) -> set[date]:
    after = state.scored_through
    if after is not None and after >= today:
        return set()
    due = set()
    for scored in state.daily_scores:
        for k in range(WINDOW_DAYS):
            shown = scored + timedelta(days=k)
            if (after is None or shown > after) and shown <= today:
                due.add(shown)
    return due


def _rows(state: StudentState, days: list[date], config: TenantConfig) -> list[ScoreRow]:
    assert state.college is not None
    rows = []
    for day in days:
        average = score_7d(state.daily_scores, day)
        rows.append(
            ScoreRow(
                day=day,
                college=state.college,
                daily_score=state.daily_scores.get(day, 0.0),
                score_7d=average,
                band=band_for(config.bands, average),
            )
        )
    return rows


def score_history(state: StudentState, through: date, days: int) -> dict[date, float]:
    return {
        through - timedelta(days=back): score_7d(state.daily_scores, through - timedelta(days=back))
        for back in range(days + 1)
    }


def evaluate_day(
    state: StudentState,
    day: date,
    config: TenantConfig,
    *,
    day_end_ms: int,
) -> list[RaisedAlert]:
    """Run the tenant's rules for one completed local day; returns the alerts to raise."""
    thresholds = config.rules
    engaged = allows(config.consent_mode, state.consent, from_ms(day_end_ms))
    hits: list[RuleHit | None] = []
    if engaged and state.college is not None:
        history = score_history(state, day, thresholds.baseline_days)
        hits.append(engagement_drop(history, state.first_active_day, day, thresholds))
        hits.append(engagement_rise(history, state.first_active_day, day, thresholds))
    if engaged:
        hits.append(inactivity(state.last_active_day, state.first_active_day, day, thresholds))
    hits.append(attendance(list(state.attendance.values()), day, thresholds))
    raised = []
    for hit in hits:
        if hit is None:
            continue
        book, alert_id = consider(
            state.alerts,
            hit,
            tenant=state.tenant,
            student_id=state.student_id,
            cooldown_days=thresholds.cooldown_days,
        )
        state.alerts = book
        if alert_id is not None:
            raised.append(RaisedAlert(alert_id, hit, state.tutor_id))
    return raised


def last_completed_day(calendar: LocalCalendar, event_time_ms: int, settle_ms: int) -> date:
    """The last local day the rules may judge once event time is `event_time_ms`: a day is
    complete when event time is `settle_ms` past its end."""
    return calendar.day_of(event_time_ms - settle_ms) - timedelta(days=1)


def days_to_evaluate(state: StudentState, completed_through: date) -> list[date]:
    """Completed days not yet evaluated for this student, oldest first, bounded. A student
    not evaluated yet starts at the first day anything is known about them, so that which days
    are judged never depends on where one batch of events ended and the next began."""
    if state.evaluated_through is None:
        start = min(state.earliest_day() or completed_through, completed_through)
    else:
        start = state.evaluated_through + timedelta(days=1)
    start = max(start, completed_through - timedelta(days=MAX_CATCH_UP_DAYS - 1))
    days = []
    day = start
    while day <= completed_through:
        days.append(day)
        day += timedelta(days=1)
    return days
