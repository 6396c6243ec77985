"""Alert rules at their edges (SPEC "Alerts for human review")."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import assume, given
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
RATE_ONLY = RuleThresholds(consecutive_absences=99)

baselines = st.floats(min_value=1.0, max_value=1e6, allow_nan=False, allow_infinity=False)
history_lengths = st.integers(min_value=14, max_value=60)


def steady(baseline: float, today: float, history_days: int = 30) -> dict[date, float]:
    scores = {DAY - timedelta(days=k): baseline for k in range(1, history_days + 1)}
    scores[DAY] = today
    return scores


def first_active(history_days: int) -> date:
    return DAY - timedelta(days=history_days)


def days_ago(days: int) -> date:
    return DAY - timedelta(days=days)


def test_the_defaults_are_the_documented_ones() -> None:
    assert (T.drop_ratio, T.baseline_days, T.min_history_days, T.min_baseline) == (
        0.5, 28, 14, 1.0)
    assert T.inactivity_days == 7
    assert (T.consecutive_absences, T.attendance_window_days, T.min_attendance_rate,
            T.min_sessions) == (3, 14, 0.6, 5)
    assert (T.rise_enabled, T.rise_ratio, T.cooldown_days) == (False, 1.5, 14)


@pytest.mark.parametrize(("today", "fires"), [(5.0, False), (4.999, True), (0.0, True)])
def test_engagement_drop_fires_just_below_half_the_baseline(today: float, fires: bool) -> None:
    hit = engagement_drop(steady(10.0, today), first_active(30), DAY, T)
    assert (hit is not None) == fires
    if hit:
        assert hit.evidence["baseline"] == 10.0
        assert hit.evidence["score_7d"] == today
        assert hit.evidence["threshold_ratio"] == 0.5
        assert hit.evidence["baseline_days"] == 28
        assert hit.evidence["history_days"] == 30
        assert hit.evidence["min_history_days"] == 14
        assert hit.evidence["min_baseline"] == 1.0


@given(baselines, history_lengths)
def test_engagement_drop_exactly_at_half_does_not_fire_and_just_below_does(
    baseline: float, history: int
) -> None:
    half = baseline * 0.5
    scores = steady(baseline, half, history)
    assert engagement_drop(scores, first_active(history), DAY, T) is None
    scores[DAY] = math.nextafter(half, 0.0)
    assert engagement_drop(scores, first_active(history), DAY, T) is not None


@given(st.integers(min_value=0, max_value=40))
def test_engagement_drop_needs_fourteen_days_of_history(history: int) -> None:
    hit = engagement_drop(steady(10.0, 1.0, history), first_active(history), DAY, T)
    assert (hit is not None) == (history >= 14)


@pytest.mark.parametrize(("history", "fires"), [(13, False), (14, True)])
def test_thirteen_days_of_history_are_not_enough(history: int, fires: bool) -> None:
    assert (engagement_drop(steady(10.0, 1.0), first_active(history), DAY, T) is not None) == fires


@pytest.mark.parametrize(("baseline", "fires"), [(0.99, False), (1.0, True)])
def test_engagement_drop_needs_a_minimum_baseline(baseline: float, fires: bool) -> None:
    hit = engagement_drop(steady(baseline, 0.0), first_active(30), DAY, T)
    assert (hit is not None) == fires


@given(st.floats(min_value=0.01, max_value=1e4, allow_nan=False), history_lengths)
def test_a_baseline_exactly_at_the_minimum_is_enough_and_just_under_is_not(
    minimum: float, history: int
) -> None:
    thresholds = RuleThresholds(min_baseline=minimum)
    at_minimum = steady(minimum, 0.0, history)
    assert engagement_drop(at_minimum, first_active(history), DAY, thresholds) is not None
    under = steady(math.nextafter(minimum, 0.0), 0.0, history)
    assert engagement_drop(under, first_active(history), DAY, thresholds) is None


def test_days_before_the_student_was_first_active_do_not_dilute_the_baseline() -> None:
    hit = engagement_drop(steady(10.0, 4.0, history_days=14), first_active(14), DAY, T)
    assert hit is not None
    assert hit.evidence["baseline"] == 10.0
    assert hit.evidence["baseline_days"] == 14


def test_days_missing_from_the_history_count_as_zero() -> None:
    scores = steady(10.0, 4.0, history_days=28)
    for k in range(1, 15):
        del scores[days_ago(k)]
    # Half the 28 days at 10, half missing: the baseline is 5, and 4 is not below 2.5.
    assert engagement_drop(scores, first_active(30), DAY, T) is None
    scores[DAY] = 2.4
    hit = engagement_drop(scores, first_active(30), DAY, T)
    assert hit is not None
    assert hit.evidence["baseline"] == 5.0


def test_only_the_previous_twenty_eight_days_make_the_baseline() -> None:
    scores = steady(10.0, 4.0, history_days=28)
    scores.update({days_ago(k): 1000.0 for k in range(29, 60)})
    hit = engagement_drop(scores, first_active(60), DAY, T)
    assert hit is not None
    assert hit.evidence["baseline"] == 10.0


scores_7d = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)


@given(st.lists(scores_7d, min_size=28, max_size=28), scores_7d,
       st.integers(min_value=14, max_value=40), st.booleans())
def test_drop_and_rise_agree_with_exact_arithmetic(
    history: list[float], today: float, history_days: int, today_at_half: bool
) -> None:
    scores = {days_ago(k + 1): value for k, value in enumerate(history)}
    counted = [Fraction(v) for k, v in enumerate(history) if k + 1 <= history_days]
    baseline = sum(counted, Fraction(0)) / len(counted)
    if today_at_half:  # land on the threshold when it is a float
        today = float(baseline / 2)
    scores[DAY] = today
    drop = engagement_drop(scores, first_active(history_days), DAY, T)
    assert (drop is not None) == (baseline >= 1 and Fraction(today) < baseline / 2)
    rise = engagement_rise(scores, first_active(history_days), DAY,
                           RuleThresholds(rise_enabled=True))
    assert (rise is not None) == (baseline >= 1 and Fraction(today) > baseline * Fraction(1.5))


def test_engagement_rise_is_off_unless_enabled() -> None:
    scores = steady(4.0, 10.0)
    assert engagement_rise(scores, first_active(30), DAY, T) is None
    hit = engagement_rise(scores, first_active(30), DAY, RuleThresholds(rise_enabled=True))
    assert hit is not None
    assert hit.rule == "engagement_rise"
    assert hit.evidence["threshold_ratio"] == 1.5


@given(st.integers(min_value=1, max_value=10_000), history_lengths)
def test_engagement_rise_fires_just_above_its_ratio_not_at_it(
    quarters: int, history: int
) -> None:
    baseline = quarters / 4
    assume(baseline >= 1.0)
    thresholds = RuleThresholds(rise_enabled=True)
    at_ratio = baseline * 1.5  # exact: a multiple of 1/8
    scores = steady(baseline, at_ratio, history)
    assert engagement_rise(scores, first_active(history), DAY, thresholds) is None
    scores[DAY] = math.nextafter(at_ratio, math.inf)
    assert engagement_rise(scores, first_active(history), DAY, thresholds) is not None


def test_a_zero_minimum_baseline_does_not_break_the_rise_rule() -> None:
    thresholds = RuleThresholds(rise_enabled=True, min_baseline=0.0)
    hit = engagement_rise(steady(0.0, 3.0), first_active(30), DAY, thresholds)
    assert hit is not None
    assert hit.evidence["ratio"] is None


@given(st.integers(min_value=0, max_value=60))
def test_inactivity_fires_from_seven_days_without_activity(inactive: int) -> None:
    hit = inactivity(days_ago(inactive), days_ago(90), DAY, T)
    assert (hit is not None) == (inactive >= 7)
    if hit:
        assert hit.evidence["inactive_days"] == inactive
        assert hit.evidence["inactivity_days"] == 7


@pytest.mark.parametrize(("inactive", "fires"), [(6, False), (7, True)])
def test_six_inactive_days_are_not_enough(inactive: int, fires: bool) -> None:
    assert (inactivity(days_ago(inactive), days_ago(40), DAY, T) is not None) == fires


def test_inactivity_needs_a_student_who_was_ever_active() -> None:
    assert inactivity(None, None, DAY, T) is None


def test_activity_after_the_evaluated_day_is_not_inactivity() -> None:
    assert inactivity(DAY + timedelta(days=2), days_ago(40), DAY, T) is None


def test_without_a_last_active_day_the_first_one_counts() -> None:
    hit = inactivity(None, days_ago(9), DAY, T)
    assert hit is not None
    assert hit.evidence["inactive_days"] == 9


def marks(statuses: list[str], start: date | None = None) -> list[AttendanceMark]:
    """Two sessions a day (10:00 and 14:00) from `start` (13 days back), in the order given."""
    start = start or days_ago(13)
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
    (["absent", "absent", "absent", "late"], False),
])
def test_consecutive_unexcused_absences(statuses: list[str], fires: bool) -> None:
    hit = attendance(marks(statuses), DAY, T)
    assert (hit is not None) == fires
    if hit:
        assert hit.evidence["condition"] == "consecutive_absences"
        assert hit.evidence["consecutive_absences"] == 3
        assert hit.evidence["threshold_consecutive"] == 3


@given(st.integers(min_value=0, max_value=8),
       st.lists(st.integers(min_value=0, max_value=8), max_size=6))
def test_absences_in_a_row_fire_from_three_whatever_authorised_absences_lie_between(
    absences: int, excused_positions: list[int]
) -> None:
    statuses = ["absent"] * absences
    for position in sorted(excused_positions, reverse=True):
        statuses.insert(min(position, len(statuses)), "authorised_absence")
    hit = attendance(marks(["present", *statuses]), DAY, T)
    fired_in_a_row = hit is not None and hit.evidence["condition"] == "consecutive_absences"
    assert fired_in_a_row == (absences >= 3)


def test_absences_are_ordered_by_when_they_were_marked_not_by_input_order() -> None:
    in_time_order = marks(["present", "absent", "absent", "absent"])
    assert attendance(list(reversed(in_time_order)), DAY, T) is not None


def test_sessions_after_the_evaluated_day_are_ignored() -> None:
    later = marks(["absent"] * 3, start=DAY + timedelta(days=1))
    assert attendance(later, DAY, T) is None


@pytest.mark.parametrize(("statuses", "fires"), [
    (["absent", "absent", "present", "absent"], False),  # 4 sessions: too few to judge
    (["present", "absent", "late", "absent", "present"], False),  # exactly 60 %
    (["present", "absent", "late", "absent", "absent"], True),  # 40 % of 5
    (["present", "absent", "authorised_absence", "late", "absent", "absent"], True),
])
def test_low_attendance_rate_over_fourteen_days(statuses: list[str], fires: bool) -> None:
    hit = attendance(marks(statuses), DAY, RATE_ONLY)
    assert (hit is not None) == fires
    if hit:
        assert hit.evidence["condition"] == "low_rate"
        assert hit.evidence["attendance_rate"] == 0.4
        assert hit.evidence["sessions_counted"] == 5
        assert hit.evidence["min_attendance_rate"] == 0.6


@given(st.integers(min_value=1, max_value=28), st.data())
def test_the_rate_needs_five_sessions_and_fires_only_below_sixty_percent(
    sessions: int, data: st.DataObject
) -> None:
    attended = data.draw(st.integers(min_value=0, max_value=sessions))
    statuses = data.draw(st.permutations(["present"] * attended
                                         + ["absent"] * (sessions - attended)))
    hit = attendance(marks(list(statuses)), DAY, RATE_ONLY)
    assert (hit is not None) == (sessions >= 5 and attended * 5 < sessions * 3)


def test_authorised_absences_are_left_out_of_the_rate() -> None:
    statuses = ["present", "present", "present", "absent", "absent"] + ["authorised_absence"] * 9
    assert attendance(marks(statuses), DAY, RATE_ONLY) is None


def test_sessions_before_the_window_do_not_count_towards_the_rate() -> None:
    old = marks(["absent"] * 6, start=days_ago(40))
    assert attendance(old, DAY, RATE_ONLY) is None
    # The window is the 14 days ending on the day: 13 days back is inside, 14 is not.
    assert attendance(marks(["absent"] * 6, start=days_ago(13)), DAY, RATE_ONLY) is not None
    before_window = AttendanceMark("old", days_ago(14), datetime(2026, 10, 19, 10, tzinfo=UTC),
                                   "absent")
    edge = [before_window, *marks(["absent"] * 4)]
    assert attendance(edge, DAY, RATE_ONLY) is None


@given(st.lists(st.sampled_from(["present", "late", "authorised_absence"]), max_size=28))
def test_authorised_absences_never_make_it_fire(statuses: list[str]) -> None:
    assert attendance(marks(statuses), DAY, T) is None
