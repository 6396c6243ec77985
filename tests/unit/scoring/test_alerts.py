"""The alert lifecycle: one open alert per rule, cooldown after resolution, exemptions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from scoring.alerts import AlertBook, alert_id_for, consider, exempt, forget_rules, resolve
from scoring.rules import RuleHit

DAY = date(2026, 11, 2)


def hit(day: date, rule: str = "engagement_drop") -> RuleHit:
    return RuleHit(rule, day, {"score_7d": 1.0})


def raise_(book: AlertBook, day: date, rule: str = "engagement_drop"
           ) -> tuple[AlertBook, str | None]:
    return consider(book, hit(day, rule), tenant="t", student_id="s1", cooldown_days=14)


def test_alert_ids_are_deterministic() -> None:
    assert alert_id_for("t", "s1", "inactivity", DAY) == alert_id_for("t", "s1", "inactivity", DAY)
    assert alert_id_for("t", "s1", "inactivity", DAY) != alert_id_for("t", "s2", "inactivity", DAY)


def test_at_most_one_open_alert_per_rule() -> None:
    book, first = raise_(AlertBook(), DAY)
    book, second = raise_(book, DAY + timedelta(days=1))
    book, other_rule = raise_(book, DAY + timedelta(days=1), "inactivity")
    assert first is not None
    assert second is None
    assert other_rule is not None


def test_acknowledging_keeps_the_alert_open() -> None:
    book, alert_id = raise_(AlertBook(), DAY)
    assert alert_id is not None
    book, closed = resolve(book, alert_id, "acknowledged", DAY)
    assert closed is None
    assert raise_(book, DAY + timedelta(days=30))[1] is None


@pytest.mark.parametrize(("days_after", "raised"), [(13, False), (14, True)])
def test_cooldown_after_resolution(days_after: int, raised: bool) -> None:
    book, alert_id = raise_(AlertBook(), DAY)
    assert alert_id is not None
    book, closed = resolve(book, alert_id, "contacted", DAY)
    assert closed == "engagement_drop"
    assert (raise_(book, DAY + timedelta(days=days_after))[1] is not None) == raised


@pytest.mark.parametrize(("offset", "raised"), [(0, False), (1, True)])
def test_exempt_students_raise_nothing_until_the_day_after(offset: int, raised: bool) -> None:
    until = DAY + timedelta(days=10)
    book = exempt(AlertBook(), until)
    assert (raise_(book, until + timedelta(days=offset))[1] is not None) == raised


def test_unknown_alert_ids_are_harmless() -> None:
    book = AlertBook()
    assert resolve(book, "nope", "dismissed", DAY) == (book, None)


def test_withdrawal_forgets_engagement_alerts_only() -> None:
    book, _ = raise_(AlertBook(), DAY)
    book, _ = raise_(book, DAY, "attendance")
    book = forget_rules(book, {"engagement_drop", "inactivity"})
    assert set(book.open) == {"attendance"}


def test_the_book_survives_a_snapshot() -> None:
    book, _ = raise_(AlertBook(), DAY)
    book = exempt(book, DAY + timedelta(days=3))
    assert AlertBook.from_dict(book.to_dict()) == book
