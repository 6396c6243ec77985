"""Daily score, the 7-day moving average and bands (SPEC "Score")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from scoring.config import Band, Measure, TenantConfig
from scoring.measures import DayTotals

WINDOW_DAYS = 7


def coefficients_for(config: TenantConfig, college: str | None, day: date) -> dict[Measure, float]:
    """The college's coefficients in the set in force on `day`; empty when none apply."""
    if college is None:
        return {}
    chosen: dict[Measure, float] = {}
    for coefficient_set in config.coefficient_sets:
        if coefficient_set.valid_from > day:
            break
        chosen = coefficient_set.colleges.get(college, {})
    return chosen


def measure_values(totals: DayTotals) -> dict[Measure, float]:
    return {
        Measure.ELE_MINUTES: totals.ele_minutes,
        Measure.APP_CHOICES: float(totals.app_choices),
        Measure.EVENT_CHECKINS: float(totals.event_checkins),
    }


def daily_score(totals: DayTotals, coefficients: Mapping[Measure, float]) -> float:
    values = measure_values(totals)
    return sum(coefficients.get(m, 0.0) * values[m] for m in Measure)


def score_7d(daily_scores: Mapping[date, float], day: date) -> float:
    """Mean of the daily scores of day-6..day; days without activity count 0."""
    total = sum(daily_scores.get(day - timedelta(days=back), 0.0) for back in range(WINDOW_DAYS))
    return total / WINDOW_DAYS


def band_for(bands: tuple[Band, ...], score: float) -> str:
    for band in bands:
        if band.below is None or score < band.below:
            return band.name
    return bands[-1].name
