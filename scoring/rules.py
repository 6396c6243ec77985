"""Alert rules (SPEC "Alerts for human review"). Each hit carries its evidence: the numbers
that triggered it and the thresholds they were held against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

Evidence = dict[str, float | int | str | None]


class RuleThresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    drop_ratio: float = Field(default=0.5, gt=0, lt=1)
    baseline_days: int = Field(default=28, ge=1)
    min_history_days: int = Field(default=14, ge=0)
    min_baseline: float = Field(default=1.0, ge=0)
    inactivity_days: int = Field(default=7, ge=1)
    consecutive_absences: int = Field(default=3, ge=1)
    attendance_window_days: int = Field(default=14, ge=1)
    min_attendance_rate: float = Field(default=0.6, ge=0, le=1)
    min_sessions: int = Field(default=5, ge=1)
    rise_enabled: bool = False
    rise_ratio: float = Field(default=1.5, gt=1)
    cooldown_days: int = Field(default=14, ge=0)


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: str
    day: date
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class AttendanceMark:
    """The latest mark of one timetabled session."""

    session_id: str
    day: date
    at: datetime
    status: str


def _baseline(score_7d_by_day: Mapping[date, float], first_active_day: date, day: date,
              t: RuleThresholds) -> tuple[float, int]:
    days = [day - timedelta(days=back) for back in range(1, t.baseline_days + 1)]
    counted = [d for d in days if d >= first_active_day]
    if not counted:
        return 0.0, 0
    return sum(score_7d_by_day.get(d, 0.0) for d in counted) / len(counted), len(counted)


def _compare(rule: str, score_7d_by_day: Mapping[date, float], first_active_day: date | None,
             day: date, t: RuleThresholds, ratio: float, below: bool) -> RuleHit | None:
    if first_active_day is None:
        return None
    history_days = (day - first_active_day).days
    if history_days < t.min_history_days:
        return None
    baseline, baseline_days = _baseline(score_7d_by_day, first_active_day, day, t)
    if baseline < t.min_baseline:
        return None
    current = score_7d_by_day.get(day, 0.0)
    fired = current < ratio * baseline if below else current > ratio * baseline
    if not fired:
        return None
    return RuleHit(rule, day, {
        "score_7d": round(current, 4),
        "baseline": round(baseline, 4),
        "ratio": round(current / baseline, 4),
        "threshold_ratio": ratio,
        "baseline_days": baseline_days,
        "history_days": history_days,
        "min_history_days": t.min_history_days,
        "min_baseline": t.min_baseline,
    })


def engagement_drop(score_7d_by_day: Mapping[date, float], first_active_day: date | None,
                    day: date, t: RuleThresholds) -> RuleHit | None:
    """score_7d below `drop_ratio` of the student's own mean score_7d over the previous
    `baseline_days` days (days before the student was first active do not count)."""
    return _compare("engagement_drop", score_7d_by_day, first_active_day, day, t,
                    t.drop_ratio, below=True)


def engagement_rise(score_7d_by_day: Mapping[date, float], first_active_day: date | None,
                    day: date, t: RuleThresholds) -> RuleHit | None:
    if not t.rise_enabled:
        return None
    return _compare("engagement_rise", score_7d_by_day, first_active_day, day, t,
                    t.rise_ratio, below=False)


def inactivity(last_active_day: date | None, first_active_day: date | None, day: date,
               t: RuleThresholds) -> RuleHit | None:
    """No VLE, app or event activity on each of the `inactivity_days` days ending on `day`."""
    if first_active_day is None or last_active_day is None:
        return None
    inactive_days = (day - last_active_day).days
    if inactive_days < t.inactivity_days:
        return None
    return RuleHit("inactivity", day, {
        "inactive_days": inactive_days,
        "last_active_day": last_active_day.isoformat(),
        "inactivity_days": t.inactivity_days,
    })


def attendance(marks: Sequence[AttendanceMark], day: date, t: RuleThresholds
               ) -> RuleHit | None:
    """`consecutive_absences` unexcused absences in a row, or attendance below
    `min_attendance_rate` over the last `attendance_window_days` with enough sessions."""
    upto = sorted((m for m in marks if m.day <= day), key=lambda m: (m.at, m.session_id))
    run = 0
    for mark in upto:
        if mark.status == "absent":
            run += 1
        elif mark.status in ("present", "late"):
            run = 0
    window_start = day - timedelta(days=t.attendance_window_days - 1)
    counted = [m for m in upto if m.day >= window_start and m.status != "authorised_absence"]
    attended = sum(m.status in ("present", "late") for m in counted)
    rate = attended / len(counted) if counted else 1.0
    low_rate = len(counted) >= t.min_sessions and rate < t.min_attendance_rate
    if run < t.consecutive_absences and not low_rate:
        return None
    return RuleHit("attendance", day, {
        "condition": "consecutive_absences" if run >= t.consecutive_absences else "low_rate",
        "consecutive_absences": run,
        "threshold_consecutive": t.consecutive_absences,
        "attendance_rate": round(rate, 4),
        "sessions_counted": len(counted),
        "window_days": t.attendance_window_days,
        "min_attendance_rate": t.min_attendance_rate,
        "min_sessions": t.min_sessions,
    })
