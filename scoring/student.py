"""One student's whole stream state: the only state the engine keeps, snapshotted as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scoring.alerts import AlertBook
from scoring.consent import ConsentState
from scoring.rules import AttendanceMark
from scoring.sessionize import ActivityState
from scoring.timebase import to_ms

SCORE_DAYS_KEPT = 42
ATTENDANCE_DAYS_KEPT = 28


@dataclass(slots=True)
class StudentState:
    tenant: str
    student_id: str
    partition: int | None = None
    activity: ActivityState = field(default_factory=ActivityState)
    consent: ConsentState = field(default_factory=ConsentState)
    college: str | None = None
    tutor_id: str | None = None
    daily_scores: dict[date, float] = field(default_factory=dict)
    first_active_day: date | None = None
    last_active_day: date | None = None
    alerts: AlertBook = field(default_factory=AlertBook)
    attendance: dict[str, AttendanceMark] = field(default_factory=dict)
    evaluated_through: date | None = None
    # The newest day the student's score rows have been written through (see engine.score_rows).
    scored_through: date | None = None
    tail_shown_closed: bool = False

    @property
    def key(self) -> str:
        return f"{self.tenant}:{self.student_id}"

    def earliest_day(self) -> date | None:
        """The first day anything is known about the student: activity, scores, attendance."""
        known = [*self.daily_scores, *(mark.day for mark in self.attendance.values())]
        if self.first_active_day is not None:
            known.append(self.first_active_day)
        return min(known, default=None)

    def newest_event_ms(self) -> int | None:
        """The newest event time the state holds: engagement activity and attendance marks."""
        marks = (to_ms(mark.at) for mark in self.attendance.values())
        return max((ms for ms in (self.activity.newest_ms, *marks) if ms is not None),
                   default=None)

    def note_activity_day(self, day: date) -> None:
        if self.first_active_day is None or day < self.first_active_day:
            self.first_active_day = day
        if self.last_active_day is None or day > self.last_active_day:
            self.last_active_day = day

    def prune(self, today: date) -> None:
        oldest_score = today - timedelta(days=SCORE_DAYS_KEPT)
        for day in [d for d in self.daily_scores if d < oldest_score]:
            del self.daily_scores[day]
        oldest_mark = today - timedelta(days=ATTENDANCE_DAYS_KEPT)
        for session in [s for s, m in self.attendance.items() if m.day < oldest_mark]:
            del self.attendance[session]

    def forget_engagement(self) -> None:
        """Withdrawal: drop every engagement-derived value; attendance and alerts on it stay."""
        self.activity = ActivityState()
        self.daily_scores = {}
        self.first_active_day = None
        self.last_active_day = None
        self.tail_shown_closed = False

    def clone(self) -> StudentState:
        """An independent copy (consent, alert book and attendance marks are immutable)."""
        return replace(self, activity=self.activity.clone(), daily_scores=dict(self.daily_scores),
                       attendance=dict(self.attendance))

    def clone_sharing_activity(self) -> StudentState:
        """Like `clone`, but sharing the activity state, for a copy kept while only the rest
        changes (scores carried forward, days judged)."""
        return replace(self, daily_scores=dict(self.daily_scores),
                       attendance=dict(self.attendance))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "student_id": self.student_id,
            "partition": self.partition,
            "activity": self.activity.to_dict(),
            "consent": self.consent.to_dict(),
            "college": self.college,
            "tutor_id": self.tutor_id,
            "daily_scores": {d.isoformat(): s for d, s in self.daily_scores.items()},
            "first_active_day": _iso(self.first_active_day),
            "last_active_day": _iso(self.last_active_day),
            "alerts": self.alerts.to_dict(),
            "attendance": [
                [m.session_id, m.day.isoformat(), int(m.at.timestamp() * 1000), m.status]
                for m in self.attendance.values()
            ],
            "evaluated_through": _iso(self.evaluated_through),
            "scored_through": _iso(self.scored_through),
            "tail_shown_closed": self.tail_shown_closed,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StudentState:
        marks = [
            AttendanceMark(
                session_id=m[0],
                day=date.fromisoformat(m[1]),
                at=datetime.fromtimestamp(m[2] / 1000, tz=UTC),
                status=m[3],
            )
            for m in raw.get("attendance", [])
        ]
        return cls(
            tenant=raw["tenant"],
            student_id=raw["student_id"],
            partition=raw.get("partition"),
            activity=ActivityState.from_dict(raw["activity"]),
            consent=ConsentState.from_dict(raw["consent"]),
            college=raw.get("college"),
            tutor_id=raw.get("tutor_id"),
            daily_scores={date.fromisoformat(d): s for d, s in raw["daily_scores"].items()},
            first_active_day=_date(raw.get("first_active_day")),
            last_active_day=_date(raw.get("last_active_day")),
            alerts=AlertBook.from_dict(raw["alerts"]),
            attendance={m.session_id: m for m in marks},
            evaluated_through=_date(raw.get("evaluated_through")),
            scored_through=_date(raw.get("scored_through")),
            tail_shown_closed=bool(raw.get("tail_shown_closed", False)),
        )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _date(raw: str | None) -> date | None:
    return date.fromisoformat(raw) if raw else None
