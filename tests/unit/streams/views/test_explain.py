"""`engage explain` built from plain stored rows: each day is explained with the coefficients
in force that day, so its products add up to its stored daily score (SPEC "Score")."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from scoring.config import Measure, TenantConfig
from scoring.measures import DayTotals
from scoring.scores import coefficients_for, daily_score, score_7d
from scoring.timebase import MINUTE_MS
from streams.cli.render import render_explain
from streams.views.named import build_explanation, jsonable

OLD_CLES = {"ele_minutes": 0.3, "app_choices": 0.1, "event_checkins": 1.0}
NEW_CLES = {"ele_minutes": 0.446, "app_choices": 0.068, "event_checkins": 1.11}
OLD_CEMPS = {"ele_minutes": 0.7, "app_choices": 0.2, "event_checkins": 2.0}
NEW_CEMPS = {"ele_minutes": 0.9, "app_choices": 0.3, "event_checkins": 3.0}
NEW_YEAR = date(2026, 8, 1)
DAY = date(2026, 8, 3)  # the window 2026-07-28..2026-08-03 crosses NEW_YEAR


def tenant() -> TenantConfig:
    return TenantConfig.model_validate({"coefficient_sets": [
        {"valid_from": "2025-08-01", "colleges": {"CLES": OLD_CLES, "CEMPS": OLD_CEMPS}},
        {"valid_from": NEW_YEAR.isoformat(), "colleges": {"CLES": NEW_CLES, "CEMPS": NEW_CEMPS}},
    ]})


ACTIVITY = {  # day -> (VLE minutes, app choices, event check-ins)
    date(2026, 7, 29): (12.5, 3, 1),
    date(2026, 7, 31): (20.0, 0, 2),
    date(2026, 8, 1): (10.0, 4, 0),
    date(2026, 8, 3): (7.25, 1, 1),
}


def stored_rows(config: TenantConfig, college: str
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows as the engine stores them: daily scores with the set in force on each day."""
    measures, scores = [], []
    daily: dict[date, float] = {}
    for day, (minutes, apps, checkins) in sorted(ACTIVITY.items()):
        totals = DayTotals(module_ms={"BIO1001": round(minutes * MINUTE_MS)},
                           app_choices=apps, event_checkins=checkins)
        measures.append({"day": day, "ele_minutes": totals.ele_minutes,
                         "minutes_by_module": totals.minutes_by_module(),
                         "no_module_minutes": 0.0, "app_choices": apps,
                         "event_checkins": checkins})
        daily[day] = daily_score(totals, coefficients_for(config, college, day))
    for back in range(6, -1, -1):
        day = DAY - timedelta(days=back)
        scores.append({"day": day, "college": college, "daily_score": daily.get(day, 0.0),
                       "score_7d": score_7d(daily, day), "band": "typical"})
    return measures, scores


def explained(config: TenantConfig, measures: list[dict[str, Any]],
              scores: list[dict[str, Any]], roster_college: str | None) -> dict[str, Any]:
    profile = {"college": roster_college} if roster_college else None
    view = build_explanation(config, "uni", "s1", DAY, measures=measures, scores=scores,
                             profile=profile, consent_history=[])
    shown: dict[str, Any] = jsonable(view)  # as the CLI and the worker route return it
    return shown


def explained_sum(day: dict[str, Any]) -> float:
    return float(sum(day["coefficients"].get(str(m), 0.0) * day[str(m)] for m in Measure))


def test_each_day_is_explained_with_the_coefficients_in_force_that_day() -> None:
    config = tenant()
    measures, scores = stored_rows(config, "CLES")
    view = explained(config, measures, scores, "CLES")

    assert [d["date"] for d in view["days"]] == [
        (DAY - timedelta(days=back)).isoformat() for back in range(6, -1, -1)]
    for day in view["days"]:
        expected = OLD_CLES if date.fromisoformat(day["date"]) < NEW_YEAR else NEW_CLES
        assert day["coefficients"] == expected
        assert explained_sum(day) == pytest.approx(day["daily_score"])
    assert sum(explained_sum(d) for d in view["days"]) > 0
    # The documented top-level key still holds the set in force on the explained day.
    assert view["coefficients"] == NEW_CLES
    assert view["score_7d"] == pytest.approx(sum(d["daily_score"] for d in view["days"]) / 7)


def test_the_readable_table_shows_each_days_own_arithmetic() -> None:
    config = tenant()
    measures, scores = stored_rows(config, "CLES")
    text = render_explain(explained(config, measures, scores, "CLES"))

    assert "2026-07-28 to 2026-07-31: ele_minutes 0.3, app_choices 0.1, event_checkins 1" in text
    assert "2026-08-01 to 2026-08-03: ele_minutes 0.446, app_choices 0.068" in text
    rows = {line[:10]: line for line in text.splitlines() if line[:4] == "2026"}
    assert "0.3 x 12.50 + 0.1 x 3 + 1 x 1 = 5.050" in rows["2026-07-29"]
    assert "0.3 x 20.00 + 0.1 x 0 + 1 x 2 = 8.000" in rows["2026-07-31"]
    assert "0.446 x 10.00 + 0.068 x 4 + 1.11 x 0 = 4.732" in rows["2026-08-01"]
    assert "0.446 x 7.25 + 0.068 x 1 + 1.11 x 1" in rows["2026-08-03"]


def test_the_stored_college_of_each_day_wins_over_the_current_roster() -> None:
    config = tenant()
    measures, scores = stored_rows(config, "CLES")
    view = explained(config, measures, scores, "CEMPS")  # moved college after scoring

    assert view["college"] == "CEMPS"
    for day in view["days"]:
        assert explained_sum(day) == pytest.approx(day["daily_score"])
    assert view["coefficients"] == NEW_CLES


def test_days_without_a_score_row_use_the_roster_college() -> None:
    config = tenant()
    view = explained(config, [], [], "CEMPS")

    assert [d["coefficients"] for d in view["days"]] == [OLD_CEMPS] * 4 + [NEW_CEMPS] * 3
    assert view["coefficients"] == NEW_CEMPS
    assert all(d["daily_score"] == 0.0 for d in view["days"])


def test_one_set_for_the_whole_window_keeps_the_single_coefficients_line() -> None:
    config = TenantConfig.model_validate({"coefficient_sets": [
        {"valid_from": "2025-08-01", "colleges": {"CLES": NEW_CLES}}]})
    measures, scores = stored_rows(config, "CLES")
    text = render_explain(explained(config, measures, scores, "CLES"))

    assert "Coefficients: ele_minutes 0.446, app_choices 0.068, event_checkins 1.11" in text
    assert "0.446 x 12.50 + 0.068 x 3 + 1.11 x 1" in text
    assert "set in force each day" not in text


def test_no_college_explains_with_no_coefficients() -> None:
    view = explained(tenant(), [], [], None)

    assert view["coefficients"] == {}
    assert all(d["coefficients"] == {} for d in view["days"])
    assert "Coefficients: none (no roster college" in render_explain(view)
