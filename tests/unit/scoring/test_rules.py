"""Alert rules at their edges (SPEC "Alerts for human review")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.rules import (
    AttendanceMark,
    RuleThresholds,
    attendance,
    engagement_drop,
    engagement_rise,
    inactivity,
)

DAY = date(2026, 11, 2)
T = RuleThresholds()


def steady(baseline: float, today: float, history_days: int = 30) -> dict[date, float]:
    scores = {DAY - timedelta(days=k): baseline for k in range(1, history_days + 1)}
    scores[DAY] = today
    return scores


@pytest.mark.parametrize(("today", "fires"), [(5.0, False), (4.999, True), (0.0, True)])
def test_engagement_drop_fires_just_below_half_the_baseline(today: float, fires: bool) -> None:
    hit = engagement_drop(steady(10.0, today), DAY - timedelta(days=30), DAY, T)
    assert (hit is not None) == fires
    if hit:
        assert hit.evidence["baseline"] == 10.0
        assert hit.evidence["score_7d"] == today
        assert hit.evidence["threshold_ratio"] == 0.5


@pytest.mark.parametrize(("history", "fires"), [(13, False), (14, True)])
def test_engagement_drop_needs_fourteen_days_of_history(history: int, fires: bool) -> None:
    first = DAY - timedelta(days=history)
    assert (engagement_drop(steady(10.0, 1.0), first, DAY, T) is not None) == fires


@pytest.mark.parametrize(("baseline", "fires"), [(0.99, False), (1.0, True)])
def test_engagement_drop_needs_a_minimum_baseline(baseline: float, fires: bool) -> None:
    hit = engagement_drop(steady(baseline, 0.0), DAY - timedelta(days=30), DAY, T)
    assert (hit is not None) == fires


def test_days_before_the_student_was_first_active_do_not_dilute_the_baseline() -> None:
    first = DAY - timedelta(days=14)
    hit = engagement_drop(steady(10.0, 4.0, history_days=14), first, DAY, T)
    assert hit is not None
    assert hit.evidence["baseline"] == 10.0


def test_engagement_rise_is_off_unless_enabled() -> None:
    scores = steady(4.0, 10.0)
    first = DAY - timedelta(days=30)
    assert engagement_rise(scores, first, DAY, T) is None
    hit = engagement_rise(scores, first, DAY, RuleThresholds(rise_enabled=True))
    assert hit is not None
    assert hit.rule == "engagement_rise"


@pytest.mark.parametrize(("inactive", "fires"), [(6, False), (7, True), (12, True)])
def test_inactivity_after_seven_days_without_activity(inactive: int, fires: bool) -> None:
    hit = inactivity(DAY - timedelta(days=inactive), DAY - timedelta(days=40), DAY, T)
    assert (hit is not None) == fires
    if hit:
        assert hit.evidence["inactive_days"] == inactive


def test_inactivity_needs_a_student_who_was_ever_active() -> None:
    assert inactivity(None, None, DAY, T) is None


def marks(statuses: list[str], start: date = DAY - timedelta(days=10)) -> list[AttendanceMark]:
    result = []
    for index, status in enumerate(statuses):
        day = start + timedelta(days=index // 2)
        at = datetime(day.year, day.month, day.day, 10 + 4 * (index % 2), tzinfo=UTC)
        result.append(AttendanceMark(f"s{index}", day, at, status))
    return result


@pytest.mark.parametrize(("statuses", "fires"), [
    (["present", "absent", "absent"], False),
    (["present", "absent", "absent", "absent"], True),
    (["absent", "absent", "present", "absent"], False),
    (["absent", "authorised_absence", "absent", "absent"], True),
])
def test_consecutive_unexcused_absences(statuses: list[str], fires: bool) -> None:
    hit = attendance(marks(statuses), DAY, T)
    assert (hit is not None) == fires
    if hit:
        assert hit.evidence["condition"] == "consecutive_absences"


@pytest.mark.parametrize(("statuses", "fires"), [
    (["absent", "absent", "present", "absent"], False),  # 4 sessions: too few to judge
    (["present", "absent", "late", "absent", "present"], False),  # exactly 60 %
    (["present", "absent", "late", "absent", "absent"], True),  # 40 % of 5
    (["present", "absent", "authorised_absence", "late", "absent", "absent"], True),
])
def test_low_attendance_rate_over_fourteen_days(statuses: list[str], fires: bool) -> None:
    hit = attendance(marks(statuses), DAY, RuleThresholds(consecutive_absences=99))
    assert (hit is not None) == fires


def test_sessions_before_the_window_do_not_count_towards_the_rate() -> None:
    old = marks(["absent"] * 6, start=DAY - timedelta(days=40))
    assert attendance(old, DAY, RuleThresholds(consecutive_absences=99)) is None


@given(st.lists(st.sampled_from(["present", "late", "authorised_absence"]), max_size=30))
def test_authorised_absences_never_make_it_fire(statuses: list[str]) -> None:
    assert attendance(marks(statuses), DAY, T) is None
