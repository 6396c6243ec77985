"""Daily score, the 7-day moving average, coefficient sets and bands (SPEC "Score")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from scoring.config import Measure, TenantConfig
from scoring.measures import DayTotals
from scoring.scores import band_for, coefficients_for, daily_score, score_7d
from scoring.timebase import MINUTE_MS

CLES = {"ele_minutes": 0.446, "app_choices": 0.068, "event_checkins": 1.11}


def config(**extra: object) -> TenantConfig:
    return TenantConfig.model_validate({
        "coefficient_sets": [
            {"valid_from": "2026-08-01", "colleges": {"CLES": CLES}},
            {"valid_from": "2025-08-01",
             "colleges": {"CLES": {"ele_minutes": 0.3, "app_choices": 0.1,
                                   "event_checkins": 1.0}}},
        ],
        **extra,
    })


def test_the_specification_check_gives_10_21() -> None:
    cfg = config()
    first = date(2026, 10, 5)
    checkins = [1, 1, 1, 1, 1, 1, 0]
    scores = {}
    for offset in range(7):
        day = first + timedelta(days=offset)
        totals = DayTotals(module_ms={"BIO1001": 20 * MINUTE_MS}, app_choices=5,
                           event_checkins=checkins[offset])
        scores[day] = daily_score(totals, coefficients_for(cfg, "CLES", day))
    result = score_7d(scores, first + timedelta(days=6))
    assert result == pytest.approx((7 * 20 * 0.446 + 35 * 0.068 + 6 * 1.11) / 7)
    assert round(result, 2) == 10.21


def test_the_coefficient_set_in_force_on_the_day_applies() -> None:
    cfg = config()
    assert coefficients_for(cfg, "CLES", date(2026, 7, 31))[Measure.ELE_MINUTES] == 0.3
    assert coefficients_for(cfg, "CLES", date(2026, 8, 1))[Measure.ELE_MINUTES] == 0.446
    assert coefficients_for(cfg, "CLES", date(2025, 7, 31)) == {}
    assert coefficients_for(cfg, "UNKNOWN", date(2026, 9, 1)) == {}
    assert coefficients_for(cfg, None, date(2026, 9, 1)) == {}


def test_no_module_minutes_never_score() -> None:
    totals = DayTotals(module_ms={}, no_module_ms=30 * MINUTE_MS)
    assert daily_score(totals, coefficients_for(config(), "CLES", date(2026, 9, 1))) == 0.0


def test_days_without_activity_count_zero_in_the_moving_average() -> None:
    day = date(2026, 10, 10)
    assert score_7d({day: 7.0}, day) == 1.0
    assert score_7d({day: 7.0}, day + timedelta(days=6)) == 1.0
    assert score_7d({day: 7.0}, day + timedelta(days=7)) == 0.0


@pytest.mark.parametrize(("score", "band"), [(0.0, "low"), (4.99, "low"), (5.0, "typical"),
                                             (14.99, "typical"), (15.0, "high"), (99, "high")])
def test_bands_at_their_edges(score: float, band: str) -> None:
    assert band_for(config().bands, score) == band


def test_configuration_errors_are_clear() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        config(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="ascend"):
        config(bands=[{"name": "a", "below": 5}, {"name": "b", "below": 2}, {"name": "c"}])
    with pytest.raises(ValidationError, match="last band"):
        config(bands=[{"name": "a", "below": 5}])
