"""Alert rules (SPEC "Alerts for human review").

Each rule looks at one student on one completed local day and returns a hit or nothing. A hit
carries its evidence: the numbers that triggered it and the thresholds they were held against,
so a tutor (and the student) can see why it fired.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

Evidence = dict[str, float | int | str | None]

ATTENDED = frozenset({"present", "late"})
ABSENT = "absent"
AUTHORISED_ABSENCE = "authorised_absence"


class RuleThresholds(BaseModel):
    """One tenant's alert thresholds (the `rules:` block of the tenant file)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drop_ratio: float = Field(
        default=0.5, gt=0, lt=1,
        description="engagement_drop fires when score_7d < drop_ratio x baseline")
    baseline_days: int = Field(
        default=28, ge=1,
        description="the baseline is the mean score_7d over this many days before the day")
    min_history_days: int = Field(
        default=14, ge=0,
        description="days since the student was first active before drop/rise can fire")
    min_baseline: float = Field(
        default=1.0, ge=0,
        description="drop/rise need a baseline of at least this (tiny baselines are noise)")
    inactivity_days: int = Field(
        default=7, ge=1,
        description="inactivity fires after this many consecutive days without activity")
    consecutive_absences: int = Field(
        default=3, ge=1,
        description="attendance fires on this many unexcused absences in a row")
    attendance_window_days: int = Field(
        default=14, ge=1,
        description="the attendance rate is taken over this many days ending on the day")
    min_attendance_rate: float = Field(
        default=0.6, ge=0, le=1,
        description="attendance fires when the rate over the window is below this")
    min_sessions: int = Field(
        default=5, ge=1,
        description="the rate is judged only with at least this many counted sessions")
    rise_enabled: bool = Field(
        default=False,
        description="turn on engagement_rise, a positive rule to recognise progress")
    rise_ratio: float = Field(
        default=1.5, gt=1,
        description="engagement_rise fires when score_7d > rise_ratio x baseline")
    cooldown_days: int = Field(
        default=14, ge=0,
        description="after an alert is closed, the same rule raises nothing for this many days")


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: str
    day: date
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class AttendanceMark:
    """The latest mark of one timetabled session: present, late, absent or
    authorised_absence."""

    session_id: str
    day: date
    at: datetime
    status: str


# Relative gap under which a float comparison may be decided by rounding; closer cases are
# settled in exact arithmetic, so a score exactly at a threshold is exactly at it.
_ROUNDING_MARGIN = 1e-9


def _sign_against_mean(value: float, factor: float, values: Sequence[float]) -> int:
    """The sign of `value - factor x mean(values)`, exact for the floats given."""
    count = len(values)
    total = math.fsum(values)
    difference = value * count - factor * total
    scale = abs(value * count) + abs(factor * total)
    if abs(difference) > _ROUNDING_MARGIN * scale:
        return 1 if difference > 0 else -1
    exact = Fraction(value) * count - Fraction(factor) * sum(map(Fraction, values), Fraction(0))
    return (exact > 0) - (exact < 0)


def _baseline_scores(score_7d_by_day: Mapping[date, float], first_active_day: date, day: date,
                     t: RuleThresholds) -> list[float]:
    before = (day - timedelta(days=back) for back in range(1, t.baseline_days + 1))
    return [score_7d_by_day.get(d, 0.0) for d in before if d >= first_active_day]


def _compare(rule: str, score_7d_by_day: Mapping[date, float], first_active_day: date | None,
             day: date, t: RuleThresholds, ratio: float, below: bool) -> RuleHit | None:
    if first_active_day is None:
        return None
    history_days = (day - first_active_day).days
    if history_days < t.min_history_days:
        return None
    scores = _baseline_scores(score_7d_by_day, first_active_day, day, t)
    if not scores or _sign_against_mean(t.min_baseline, 1.0, scores) > 0:
        return None
    current = score_7d_by_day.get(day, 0.0)
    side = _sign_against_mean(current, ratio, scores)
    if side != (-1 if below else 1):
        return None
    baseline = math.fsum(scores) / len(scores)
    return RuleHit(rule, day, {
        "score_7d": round(current, 4),
        "baseline": round(baseline, 4),
        "ratio": round(current / baseline, 4) if baseline else None,
        "threshold_ratio": ratio,
        "baseline_days": len(scores),
        "history_days": history_days,
        "min_history_days": t.min_history_days,
        "min_baseline": t.min_baseline,
    })


def engagement_drop(score_7d_by_day: Mapping[date, float], first_active_day: date | None,
                    day: date, t: RuleThresholds) -> RuleHit | None:
    """score_7d on `day` below `drop_ratio` x the baseline.

    The baseline is the mean score_7d over the `baseline_days` days before `day`, counting only
    days on or after `first_active_day` (days missing from the mapping count 0.0). It needs
    `min_history_days` between `first_active_day` and `day`, and a baseline of at least
    `min_baseline`.
    """
    return _compare("engagement_drop", score_7d_by_day, first_active_day, day, t,
                    t.drop_ratio, below=True)


def engagement_rise(score_7d_by_day: Mapping[date, float], first_active_day: date | None,
                    day: date, t: RuleThresholds) -> RuleHit | None:
    """When enabled: score_7d on `day` above `rise_ratio` x the baseline, with the same
    baseline and history requirements as `engagement_drop`."""
    if not t.rise_enabled:
        return None
    return _compare("engagement_rise", score_7d_by_day, first_active_day, day, t,
                    t.rise_ratio, below=False)


def inactivity(last_active_day: date | None, first_active_day: date | None, day: date,
               t: RuleThresholds) -> RuleHit | None:
    """No VLE, app or event activity on any of the `inactivity_days` days ending on `day`.

    That is, the last day with activity is on or before `day - inactivity_days`; the evidence's
    `inactive_days` is the number of consecutive days without activity ending on `day`. A
    student never seen active raises nothing (there is no engagement to have lost). Without a
    last active day the first one stands in for it.
    """
    if first_active_day is None:
        return None
    last = last_active_day if last_active_day is not None else first_active_day
    inactive_days = (day - last).days
    if inactive_days < t.inactivity_days:
        return None
    return RuleHit("inactivity", day, {
        "inactive_days": inactive_days,
        "last_active_day": last.isoformat(),
        "inactivity_days": t.inactivity_days,
    })


def _trailing_absences(marks: Sequence[AttendanceMark]) -> int:
    """Unexcused absences in a row at the end of `marks` (in time order); an authorised
    absence neither breaks nor extends the run, attending breaks it."""
    run = 0
    for mark in marks:
        if mark.status == ABSENT:
            run += 1
        elif mark.status in ATTENDED:
            run = 0
    return run


def attendance(marks: Sequence[AttendanceMark], day: date, t: RuleThresholds
               ) -> RuleHit | None:
    """`consecutive_absences` unexcused absences in a row in the latest sessions up to `day`,
    or an attendance rate below `min_attendance_rate` over the `attendance_window_days` days
    ending on `day` with at least `min_sessions` counted sessions (present and late attend,
    absent does not, authorised absences are left out)."""
    upto = sorted((m for m in marks if m.day <= day), key=lambda m: (m.at, m.session_id))
    run = _trailing_absences(upto)
    window_start = day - timedelta(days=t.attendance_window_days - 1)
    counted = [m for m in upto
               if m.day >= window_start and (m.status in ATTENDED or m.status == ABSENT)]
    attended = sum(m.status in ATTENDED for m in counted)
    rate = attended / len(counted) if counted else None
    in_a_row = run >= t.consecutive_absences
    low_rate = rate is not None and len(counted) >= t.min_sessions and (
        rate < t.min_attendance_rate)
    if not (in_a_row or low_rate):
        return None
    return RuleHit("attendance", day, {
        "condition": "consecutive_absences" if in_a_row else "low_rate",
        "consecutive_absences": run,
        "threshold_consecutive": t.consecutive_absences,
        "attendance_rate": round(rate, 4) if rate is not None else None,
        "sessions_counted": len(counted),
        "window_days": t.attendance_window_days,
        "min_attendance_rate": t.min_attendance_rate,
        "min_sessions": t.min_sessions,
    })
