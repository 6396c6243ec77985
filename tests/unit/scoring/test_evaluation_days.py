"""Which completed days the rules judge for a student: never dependent on batching."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from scoring.config import TenantConfig
from scoring.days import days_to_evaluate, evaluate_day
from scoring.rules import AttendanceMark
from scoring.student import StudentState
from scoring.timebase import LocalCalendar

CALENDAR = LocalCalendar("Europe/London")
CONFIG = TenantConfig.model_validate({
    "timezone": "Europe/London", "consent_mode": "notice",
    "coefficient_sets": [{"valid_from": "2026-08-01",
                          "colleges": {"CLES": {"ele_minutes": 0.446, "app_choices": 0.068,
                                                "event_checkins": 1.11}}}],
})
FIRST = date(2026, 10, 5)
STATUSES = ["absent", "absent", "absent", "present", "present", "absent", "absent", "absent",
            "absent", "present", "present", "present"]


def student() -> StudentState:
    state = StudentState("uni", "s1", college="CLES", tutor_id="t1")
    for offset, status in enumerate(STATUSES):
        day = FIRST + timedelta(days=offset)
        state.attendance[f"session-{offset}"] = AttendanceMark(
            f"session-{offset}", day, datetime.combine(day, datetime.min.time(), UTC)
            + timedelta(hours=10), status)
    return state


def judge(sweeps: list[date]) -> list[tuple[str, date]]:
    """The stream's sweeps: each evaluates the days completed since the last one."""
    state, raised = student(), []
    for completed in sweeps:
        for day in days_to_evaluate(state, completed):
            raised += [(a.hit.rule, a.hit.day) for a in evaluate_day(
                state, day, CONFIG, day_end_ms=CALENDAR.end_ms(day))]
            state.evaluated_through = day
    return raised


def test_a_new_student_is_judged_from_the_first_day_anything_is_known() -> None:
    assert days_to_evaluate(student(), FIRST + timedelta(days=4))[0] == FIRST
    assert days_to_evaluate(StudentState("uni", "s2"), FIRST) == [FIRST]


@given(st.sets(st.integers(min_value=0, max_value=len(STATUSES) - 1), min_size=1))
def test_the_alerts_raised_do_not_depend_on_how_the_days_were_swept(cuts: set[int]) -> None:
    last = FIRST + timedelta(days=len(STATUSES) - 1)
    day_by_day = judge([FIRST + timedelta(days=k) for k in range(len(STATUSES))])
    swept = judge(sorted({FIRST + timedelta(days=k) for k in cuts} | {last}))
    assert swept == day_by_day
    assert ("attendance", FIRST + timedelta(days=2)) in day_by_day
