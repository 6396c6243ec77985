"""What one event does to a student (`scoring.steps`): the rules the batch path, a file import
and a recompute share."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.decode import DeadLetterReason
from scoring import steps
from scoring.alerts import AlertBook
from scoring.config import TenantsFile
from scoring.measures import Activity, Kind
from scoring.sessionize import apply
from scoring.student import StudentState
from scoring.timebase import LocalCalendar, to_ms
from tests.conftest import TEST_TENANTS

TENANTS = TenantsFile.model_validate(TEST_TENANTS).tenants
NOTICE, OPT_IN = TENANTS["uni-test"], TENANTS["optin-test"]
CALENDAR = LocalCalendar("Europe/London")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = T0.date()


def student() -> StudentState:
    return StudentState("uni-test", "s1")


def test_engagement_types_are_activity_and_registration_not_roster_or_marks() -> None:
    assert {"vle.click", "app.menu_choice", "event.checkin", "event.registered"} == set(
        steps.ENGAGEMENT_TYPES)
    assert not steps.is_engagement("attendance.swipe")
    assert not steps.is_engagement("roster.student")
    assert not steps.is_engagement("consent.changed")


@given(st.permutations([("present", 0), ("absent", 5), ("late", 20), ("absent", 40)]))
def test_the_latest_mark_of_a_session_wins_whatever_order_the_marks_arrive_in(
        marks: list[tuple[str, int]]) -> None:
    state = student()
    for status, minutes in marks:
        steps.mark_attendance(state, "BIO-1", DAY, T0 + timedelta(minutes=minutes), status)
    assert state.attendance["BIO-1"].status == "absent"
    assert state.attendance["BIO-1"].at == T0 + timedelta(minutes=40)


def test_a_mark_of_the_same_moment_replaces_the_one_before() -> None:
    state = student()
    assert steps.mark_attendance(state, "BIO-1", DAY, T0, "absent")
    assert steps.mark_attendance(state, "BIO-1", DAY, T0, "authorised_absence")
    assert not steps.mark_attendance(state, "BIO-1", DAY, T0 - timedelta(seconds=1), "present")
    assert state.attendance["BIO-1"].status == "authorised_absence"


def test_a_college_change_and_only_a_college_change_means_rescoring() -> None:
    state = student()
    assert steps.take_roster(state, "CLES", "t1"), "a first college scores the days held"
    assert not steps.take_roster(state, "CLES", "t2"), "a new tutor changes no score"
    assert state.tutor_id == "t2"
    assert steps.take_roster(state, "CEMPS", "t2")
    assert state.college == "CEMPS"


def test_withdrawing_consent_is_reported_and_forgets_engagement_but_not_attendance() -> None:
    state = StudentState("optin-test", "s1")
    assert not steps.engagement_allowed(state, OPT_IN, T0)
    assert not steps.take_consent(state, OPT_IN, True, T0)
    assert steps.engagement_allowed(state, OPT_IN, T0 + timedelta(hours=1))
    state.daily_scores[DAY] = 3.0
    state.note_activity_day(DAY)
    steps.mark_attendance(state, "BIO-1", DAY, T0, "present")
    state.alerts = AlertBook(open={"inactivity": ("a1", DAY), "attendance": ("a2", DAY)})
    withdrawn = steps.take_consent(state, OPT_IN, False, T0 + timedelta(hours=2))
    assert withdrawn
    steps.withdraw(state)
    assert state.daily_scores == {}
    assert state.first_active_day is None
    assert set(state.attendance) == {"BIO-1"}
    assert set(state.alerts.open) == {"attendance"}
    # An earlier grant delivered late does not undo the withdrawal.
    assert not steps.take_consent(state, OPT_IN, True, T0 + timedelta(hours=1))
    assert not steps.engagement_allowed(state, OPT_IN, T0 + timedelta(hours=3))


def test_a_closing_decision_closes_the_alert_and_an_exemption_stops_alerts() -> None:
    state = student()
    state.alerts = AlertBook(open={"inactivity": ("a1", DAY)})
    assert steps.take_decision(state, "acknowledged", "a1", None, DAY)
    assert "inactivity" in state.alerts.open, "acknowledged keeps it open"
    assert steps.take_decision(state, "contacted", "a1", None, DAY)
    assert state.alerts.open == {}
    assert state.alerts.resolved == {"inactivity": DAY}
    until = DAY + timedelta(days=14)
    assert not steps.take_decision(state, "exempted", None, until, DAY)
    assert state.alerts.exempt_until == until
    assert not steps.take_decision(state, "contacted", None, None, DAY)


@given(st.permutations(range(4)))
def test_decisions_are_taken_in_the_order_they_were_made(order: list[int]) -> None:
    made = [steps.Decision("a1", kind, T0 + timedelta(hours=k))
            for k, kind in enumerate(["acknowledged", "contacted", "referred", "dismissed"])]
    arrived = [made[k] for k in order]
    assert steps.in_decision_order(arrived) == made


def test_a_decision_made_before_the_last_one_does_not_move_the_alert() -> None:
    assert steps.decision_moves_alert(steps.PENDING, T0, T0 - timedelta(days=1))
    assert steps.decision_moves_alert("contacted", T0, T0 + timedelta(hours=1))
    assert not steps.decision_moves_alert("contacted", T0, T0 - timedelta(hours=1))
    # As ClickHouse returns it: without a zone, in UTC.
    assert not steps.decision_moves_alert("contacted", T0.replace(tzinfo=None),
                                          T0 - timedelta(hours=1))


@given(st.integers(min_value=-10**6, max_value=10**6))
def test_a_student_is_scored_as_of_now_or_their_newest_click_if_later(skew_ms: int) -> None:
    state = student()
    now_ms = to_ms(T0)
    assert steps.scoring_clock_ms(state, now_ms) == now_ms
    apply(state.activity, [Activity("e1", Kind.CLICK, now_ms + skew_ms, "BIO1001")],
          lateness_ms=600_000, calendar=CALENDAR)
    assert steps.scoring_clock_ms(state, now_ms) == max(now_ms, now_ms + skew_ms)


def test_judging_days_moves_the_judged_through_day_on_and_raises_once() -> None:
    state = student()
    steps.take_roster(state, "CLES", "t1")
    first = date(2026, 11, 2)
    state.note_activity_day(first)
    completed = first + timedelta(days=20)
    raised = steps.judge_days(state, completed, NOTICE, CALENDAR)
    assert state.evaluated_through == completed
    assert [alert.hit.rule for alert in raised] == ["inactivity"]
    assert steps.judge_days(state, completed, NOTICE, CALENDAR) == []


def test_a_rescore_uses_the_coefficients_configured_now_and_moves_the_averages() -> None:
    state = student()
    steps.take_roster(state, "CLES", None)
    start = T0 - timedelta(days=3)
    stored = [Activity(f"e{k}", Kind.CLICK, to_ms(start) + k * 120_000, "BIO1001")
              for k in range(5)]
    day = start.date()
    state.daily_scores[day] = 99.0  # as scored with other coefficients
    state.scored_through = day + timedelta(days=2)
    measures, scores = steps.rescore_from(state, day, stored, NOTICE, CALENDAR,
                                          now_ms=to_ms(T0), today=day + timedelta(days=2))
    assert [m.day for m in measures] == [day]
    assert measures[0].totals.ele_minutes == 10.0
    assert state.daily_scores[day] == 10.0 * 0.446
    assert [s.day for s in scores] == [day + timedelta(days=k) for k in range(3)]
    assert {round(s.score_7d, 9) for s in scores} == {round(10.0 * 0.446 / 7, 9)}


def test_a_decision_may_move_only_its_own_students_alert() -> None:
    mine = ("uni-test", "s1")
    assert steps.decision_refusal(mine, mine) is None
    assert steps.decision_refusal(("uni-test", "s2"), mine) == (
        DeadLetterReason.ALERT_STUDENT_MISMATCH,
        "the alert is about another student than the decision")
    # Another tenant's alert and no alert at all are answered alike.
    assert steps.decision_refusal(("uni-b", "s1"), mine) == steps.decision_refusal(None, mine)
    assert steps.decision_refusal(None, mine) == (DeadLetterReason.ALERT_NOT_FOUND,
                                                  "no such alert for this tenant")
