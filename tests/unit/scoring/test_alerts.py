"""The alert lifecycle: one open alert per rule, cooldown after resolution, exemptions."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.alerts import (
    ENGAGEMENT_RULES,
    AlertBook,
    alert_id_for,
    consider,
    exempt,
    forget_rules,
    resolve,
)
from scoring.rules import RuleHit

DAY = date(2026, 11, 2)
RULES = ["engagement_drop", "inactivity", "engagement_rise", "attendance"]


def hit(day: date, rule: str = "engagement_drop") -> RuleHit:
    return RuleHit(rule, day, {"score_7d": 1.0})


def raise_(book: AlertBook, day: date, rule: str = "engagement_drop", cooldown_days: int = 14
           ) -> tuple[AlertBook, str | None]:
    return consider(book, hit(day, rule), tenant="t", student_id="s1",
                    cooldown_days=cooldown_days)


def test_alert_ids_are_deterministic_and_differ_per_student_rule_and_day() -> None:
    first = alert_id_for("t", "s1", "inactivity", DAY)
    assert first == alert_id_for("t", "s1", "inactivity", DAY)
    assert len({
        first,
        alert_id_for("t", "s2", "inactivity", DAY),
        alert_id_for("u", "s1", "inactivity", DAY),
        alert_id_for("t", "s1", "attendance", DAY),
        alert_id_for("t", "s1", "inactivity", DAY + timedelta(days=1)),
    }) == 5


def test_the_raised_alert_carries_the_deterministic_id() -> None:
    book, alert_id = raise_(AlertBook(), DAY)
    assert alert_id == alert_id_for("t", "s1", "engagement_drop", DAY)
    assert book.open == {"engagement_drop": (alert_id, DAY)}


def test_at_most_one_open_alert_per_rule() -> None:
    book, first = raise_(AlertBook(), DAY)
    book, second = raise_(book, DAY + timedelta(days=1))
    book, other_rule = raise_(book, DAY + timedelta(days=1), "inactivity")
    assert first is not None
    assert second is None
    assert other_rule is not None


@given(st.lists(st.tuples(st.sampled_from(RULES), st.integers(min_value=0, max_value=90)),
                max_size=30))
def test_hits_alone_never_open_two_alerts_for_one_rule(hits: list[tuple[str, int]]) -> None:
    book = AlertBook()
    raised: list[str] = []
    for rule, offset in hits:
        book, alert_id = raise_(book, DAY + timedelta(days=offset), rule)
        if alert_id is not None:
            raised.append(rule)
    assert sorted(raised) == sorted(set(raised))
    assert set(book.open) == set(raised)


def test_acknowledging_keeps_the_alert_open() -> None:
    book, alert_id = raise_(AlertBook(), DAY)
    assert alert_id is not None
    book, closed = resolve(book, alert_id, "acknowledged", DAY)
    assert closed is None
    assert raise_(book, DAY + timedelta(days=30))[1] is None


@pytest.mark.parametrize("decision", ["contacted", "referred", "dismissed"])
def test_closing_decisions_close_the_alert(decision: str) -> None:
    book, alert_id = raise_(AlertBook(), DAY)
    assert alert_id is not None
    book, closed = resolve(book, alert_id, decision, DAY + timedelta(days=2))
    assert closed == "engagement_drop"
    assert book.open == {}
    assert book.resolved == {"engagement_drop": DAY + timedelta(days=2)}


@pytest.mark.parametrize(("days_after", "raised"), [(13, False), (14, True)])
def test_cooldown_after_resolution(days_after: int, raised: bool) -> None:
    book, alert_id = raise_(AlertBook(), DAY)
    assert alert_id is not None
    book, closed = resolve(book, alert_id, "contacted", DAY)
    assert closed == "engagement_drop"
    assert (raise_(book, DAY + timedelta(days=days_after))[1] is not None) == raised


@given(st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=90))
def test_a_rule_may_fire_again_from_cooldown_days_after_its_resolution(
    cooldown_days: int, days_after: int
) -> None:
    book, alert_id = raise_(AlertBook(), DAY)
    assert alert_id is not None
    book, _ = resolve(book, alert_id, "dismissed", DAY)
    later = raise_(book, DAY + timedelta(days=days_after), cooldown_days=cooldown_days)[1]
    assert (later is not None) == (days_after >= cooldown_days)


def test_the_cooldown_of_one_rule_does_not_hold_back_another() -> None:
    book, alert_id = raise_(AlertBook(), DAY)
    assert alert_id is not None
    book, _ = resolve(book, alert_id, "contacted", DAY)
    assert raise_(book, DAY + timedelta(days=1), "attendance")[1] is not None


@pytest.mark.parametrize(("offset", "raised"), [(0, False), (1, True)])
def test_exempt_students_raise_nothing_until_the_day_after(offset: int, raised: bool) -> None:
    until = DAY + timedelta(days=10)
    book = exempt(AlertBook(), until)
    assert (raise_(book, until + timedelta(days=offset))[1] is not None) == raised


@given(st.integers(min_value=-30, max_value=30), st.sampled_from(RULES))
def test_an_exemption_covers_every_rule_up_to_and_including_its_last_day(
    offset: int, rule: str
) -> None:
    book = exempt(AlertBook(), DAY)
    assert (raise_(book, DAY + timedelta(days=offset), rule)[1] is not None) == (offset > 0)


def test_unknown_alert_ids_are_harmless() -> None:
    book, _ = raise_(AlertBook(), DAY)
    assert resolve(book, "nope", "dismissed", DAY) == (book, None)
    assert resolve(AlertBook(), "nope", "dismissed", DAY) == (AlertBook(), None)


def test_withdrawal_forgets_engagement_alerts_only() -> None:
    book, _ = raise_(AlertBook(), DAY)
    book, _ = raise_(book, DAY, "attendance")
    book = forget_rules(book, ENGAGEMENT_RULES)
    assert set(book.open) == {"attendance"}


def test_attendance_is_the_one_rule_that_needs_no_consent() -> None:
    assert set(RULES) - ENGAGEMENT_RULES == {"attendance"}


def test_the_book_survives_a_json_snapshot() -> None:
    book, alert_id = raise_(AlertBook(), DAY)
    assert alert_id is not None
    book, _ = raise_(book, DAY, "attendance")
    book, _ = resolve(book, alert_id, "referred", DAY + timedelta(days=1))
    book = exempt(book, DAY + timedelta(days=3))
    restored = AlertBook.from_dict(json.loads(json.dumps(book.to_dict())))
    assert restored == book
    assert AlertBook.from_dict(AlertBook().to_dict()) == AlertBook()
