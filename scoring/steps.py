"""What one event does to a student's state, and the other per-student steps of a batch.

The batch path (`streams.engine.local`), a file import and a recompute all go through these:
each takes plain values (the event's fields, the student's state, the tenant's configuration,
"now" as milliseconds) and changes the state or answers a question about it. Storage, topics
and metrics stay with the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol, TypeVar

from schemas.decode import DeadLetterReason
from scoring.alerts import ENGAGEMENT_RULES, exempt, forget_rules, resolve
from scoring.config import TenantConfig
from scoring.consent import ConsentTransition, allows, apply_change
from scoring.days import (
    MeasureRow,
    RaisedAlert,
    ScoreRow,
    days_to_evaluate,
    evaluate_day,
    measure_days,
)
from scoring.measures import KIND_OF_EVENT_TYPE, Activity
from scoring.rules import AttendanceMark
from scoring.sessionize import prune, rebuild_from
from scoring.student import StudentState
from scoring.timebase import LocalCalendar

# The event types that are engagement activity: gated on consent, stored as activity and
# deleted on withdrawal. Registering for an event is activity (kept, shown to the student)
# but not a measure; checking in is.
ENGAGEMENT_TYPES = frozenset({*KIND_OF_EVENT_TYPE, "event.registered"})
PENDING = "pending_review"


def is_engagement(event_type: str) -> bool:
    return event_type in ENGAGEMENT_TYPES


def engagement_allowed(state: StudentState, config: TenantConfig, at: datetime) -> bool:
    """May engagement activity of this moment be processed? (See `scoring.consent`.)"""
    return allows(config.consent_mode, state.consent, at)


def mark_attendance(state: StudentState, session_id: str, day: date, at: datetime,
                    status: str) -> bool:
    """A register mark for a session: the latest mark by event time wins, whatever order the
    marks arrive in (a correction made later replaces the first mark; an earlier mark
    delivered late does not). Returns whether the state took it."""
    known = state.attendance.get(session_id)
    if known is not None and known.at > at:
        return False
    state.attendance[session_id] = AttendanceMark(session_id, day, at, status)
    return True


def take_roster(state: StudentState, college: str, tutor_id: str | None) -> bool:
    """Who the student is now. Returns whether their days must be scored again: a college
    change changes which coefficients every day's score is computed with."""
    rescore = state.college != college
    state.college = college
    state.tutor_id = tutor_id
    return rescore


def take_consent(state: StudentState, config: TenantConfig, granted: bool, at: datetime
                 ) -> bool:
    """A consent change (the newest by event time stands). Returns whether it withdrew
    consent, after which the student's engagement data is to be deleted (see `withdraw`)."""
    state.consent, transition = apply_change(config.consent_mode, state.consent, granted, at)
    return transition is ConsentTransition.WITHDRAWN


def withdraw(state: StudentState) -> None:
    """Consent withdrawn: forget every engagement-derived value and the engagement rules'
    alerts (attendance, and the attendance rule's alerts, stay)."""
    state.forget_engagement()
    state.alerts = forget_rules(state.alerts, ENGAGEMENT_RULES)


def take_decision(state: StudentState, decision: str, alert_id: str | None,
                  exempt_until: date | None, day: date) -> bool:
    """A tutor's decision taken on `day`. An exemption stops alerts up to `exempt_until`;
    otherwise a closing decision closes the alert and starts its rule's cooldown. Returns
    whether the decision concerns an alert whose status in the review queue may move."""
    if decision == "exempted" and exempt_until is not None:
        state.alerts = exempt(state.alerts, exempt_until)
        return False
    if not alert_id:
        return False
    state.alerts, _ = resolve(state.alerts, alert_id, decision, day)
    return True


@dataclass(frozen=True, slots=True)
class Decision:
    alert_id: str
    decision: str
    decided_at: datetime


class Made(Protocol):
    @property
    def decided_at(self) -> datetime: ...


MadeT = TypeVar("MadeT", bound=Made)


def in_decision_order(decisions: Iterable[MadeT]) -> list[MadeT]:
    """Decisions as they were made, whatever order they arrived in."""
    return sorted(decisions, key=lambda d: d.decided_at)


def decision_refusal(alert_of: tuple[str, str] | None, decision_of: tuple[str, str]
                     ) -> tuple[DeadLetterReason, str] | None:
    """Why a decision may not move an alert, or None when it may: the alert must be of the
    decision's tenant and student (`(tenant, student_id)` each). An alert of another tenant is
    answered as not found, so that no tenant can learn another's alert ids."""
    if alert_of is None or alert_of[0] != decision_of[0]:
        return DeadLetterReason.ALERT_NOT_FOUND, "no such alert for this tenant"
    if alert_of[1] != decision_of[1]:
        return (DeadLetterReason.ALERT_STUDENT_MISMATCH,
                "the alert is about another student than the decision")
    return None


def decision_moves_alert(status: str, updated_at: datetime, decided_at: datetime) -> bool:
    """Does a decision set an alert's status? A pending alert takes any decision; a decided
    one only a decision made after the last (one made earlier but delivered later is kept as
    a record only)."""
    if updated_at.tzinfo is None:
        updated_at = updated_at.replace(tzinfo=UTC)
    return status == PENDING or updated_at <= decided_at


def scoring_clock_ms(state: StudentState, now_ms: int) -> int:
    """The moment a student's days are scored as of: now, or their newest click if that is
    ahead of the wall clock (an event from a source whose clock runs fast, within the bound
    the decoder allows), so that a click is never scored as if it had not happened yet."""
    return max(now_ms, state.activity.newest_ms or 0)


def judge_days(state: StudentState, completed: date, config: TenantConfig,
               calendar: LocalCalendar) -> list[RaisedAlert]:
    """Run the rules over every completed day the student has not been judged on yet, oldest
    first, and move their judged-through day on; returns the alerts raised."""
    raised: list[RaisedAlert] = []
    for day in days_to_evaluate(state, completed):
        raised += evaluate_day(state, day, config, day_end_ms=calendar.end_ms(day))
        state.evaluated_through = day
        state.prune(day)
    return raised


def rescore_from(state: StudentState, first_day: date, stored: Iterable[Activity],
                 config: TenantConfig, calendar: LocalCalendar, *, now_ms: int,
                 today: date | None) -> tuple[list[MeasureRow], list[ScoreRow]]:
    """Score every day from `first_day` on again out of the student's stored activity, with
    the coefficients configured now (a recompute): the activity refolded, each day's measures
    and score, and the rows of every day whose 7-day average moves, up to `today` or as far
    as the student's rows had been written. The state keeps the new daily scores, so the
    averages of days still to come count them and not the old ones."""
    days = rebuild_from(state.activity, first_day, stored, calendar=calendar)
    days |= {day for day in state.daily_scores if day >= first_day}
    measures, scores = measure_days(state, days, config, clock_ms=scoring_clock_ms(state, now_ms),
                                    calendar=calendar, today=today)
    prune(state.activity, calendar)
    return measures, scores
