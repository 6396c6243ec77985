"""Daily score, the 7-day moving average, coefficient sets, bands and the tenant configuration
they come from (SPEC "Score", "Tenancy and time")."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from scoring.config import DEFAULT_BANDS, Band, Measure, TenantConfig, TenantsFile
from scoring.measures import Activity, DayTotals
from scoring.scores import WINDOW_DAYS, band_for, coefficients_for, daily_score, score_7d
from scoring.timebase import MINUTE_MS, LocalCalendar
from tests.unit.scoring.helpers import LONDON_NAME, SimulatedStream, app, checkin, click, local_ms

CLES_2026 = {"ele_minutes": 0.446, "app_choices": 0.068, "event_checkins": 1.11}
CLES_2025 = {"ele_minutes": 0.3, "app_choices": 0.1, "event_checkins": 1.0}
SPEC_CHECK = (7 * 20 * 0.446 + 35 * 0.068 + 6 * 1.11) / 7


def tenant(**overrides: Any) -> TenantConfig:
    raw: dict[str, Any] = {
        # Listed newest first on purpose: the configuration orders sets by start date.
        "coefficient_sets": [
            {"valid_from": "2026-08-01", "colleges": {"CLES": CLES_2026}},
            {"valid_from": "2025-08-01", "colleges": {"CLES": CLES_2025, "CEMPS": CLES_2025}},
        ],
    }
    raw.update(overrides)
    return TenantConfig.model_validate(raw)


def totals(minutes: float = 0, apps: int = 0, checkins: int = 0, no_module_minutes: float = 0
           ) -> DayTotals:
    return DayTotals(module_ms={"BIO1001": round(minutes * MINUTE_MS)} if minutes else {},
                     no_module_ms=round(no_module_minutes * MINUTE_MS), app_choices=apps,
                     event_checkins=checkins)


# -- the specification's check --------------------------------------------------------------

def test_the_specification_check_gives_10_21_from_daily_measures() -> None:
    config = tenant()
    first = date(2026, 10, 5)
    checkins_per_day = [1, 1, 1, 1, 2, 0, 0]
    daily = {}
    for offset, checkins in enumerate(checkins_per_day):
        day = first + timedelta(days=offset)
        daily[day] = daily_score(totals(20, 5, checkins), coefficients_for(config, "CLES", day))
    average = score_7d(daily, first + timedelta(days=6))
    assert average == pytest.approx(SPEC_CHECK)
    assert round(average, 2) == 10.21


def test_the_specification_check_gives_10_21_from_raw_activity() -> None:
    """Ten clicks two minutes apart make 18 + 2 = 20 VLE minutes a day."""
    config = tenant()
    calendar = LocalCalendar(LONDON_NAME)
    first = date(2026, 10, 5)
    activities: list[Activity] = []
    for offset in range(7):
        day = first + timedelta(days=offset)
        nine = local_ms(day.year, day.month, day.day, 9)
        activities += [click(f"{day}-c{n}", nine + 2 * n * MINUTE_MS, "BIO1001")
                       for n in range(10)]
        activities += [app(f"{day}-a{n}", nine + n * 3_600_000) for n in range(1, 6)]
        if offset < 6:
            activities.append(checkin(f"{day}-k", nine + 8 * 3_600_000))
    stream = SimulatedStream(calendar=calendar).deliver_all([activities])
    shown = stream.shown()
    assert {d: (t.ele_minutes, t.app_choices) for d, t in shown.items()} == {
        first + timedelta(days=n): (20.0, 5) for n in range(7)}
    daily = {day: daily_score(t, coefficients_for(config, "CLES", day))
             for day, t in shown.items()}
    average = score_7d(daily, first + timedelta(days=6))
    assert average == pytest.approx(SPEC_CHECK)
    assert round(average, 2) == 10.21


# -- daily score ----------------------------------------------------------------------------

def test_daily_score_is_the_sum_of_coefficient_times_measure() -> None:
    coefficients = coefficients_for(tenant(), "CLES", date(2026, 10, 6))
    score = daily_score(totals(minutes=12.5, apps=3, checkins=2), coefficients)
    assert score == pytest.approx(12.5 * 0.446 + 3 * 0.068 + 2 * 1.11)


def test_no_module_minutes_never_add_to_the_score() -> None:
    coefficients = coefficients_for(tenant(), "CLES", date(2026, 10, 6))
    with_null = totals(minutes=10, no_module_minutes=45)
    assert with_null.no_module_minutes == 45.0
    assert daily_score(with_null, coefficients) == daily_score(totals(minutes=10), coefficients)
    assert daily_score(totals(no_module_minutes=45), coefficients) == 0.0


def test_a_measure_without_a_coefficient_adds_nothing() -> None:
    only_minutes = {Measure.ELE_MINUTES: 0.5}
    assert daily_score(totals(minutes=10, apps=7, checkins=3), only_minutes) == 5.0


def test_an_empty_day_scores_zero() -> None:
    assert daily_score(DayTotals(), coefficients_for(tenant(), "CLES", date(2026, 10, 6))) == 0


# -- coefficient sets -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(date(2025, 7, 31), {}, id="before-the-first-set"),
        pytest.param(date(2025, 8, 1), CLES_2025, id="first-set-starts"),
        pytest.param(date(2026, 7, 31), CLES_2025, id="last-day-of-first-set"),
        pytest.param(date(2026, 8, 1), CLES_2026, id="second-set-starts"),
        pytest.param(date(2030, 1, 1), CLES_2026, id="long-after"),
    ],
)
def test_the_coefficient_set_in_force_on_the_day_applies(day: date, expected: dict[str, float]
                                                         ) -> None:
    assert coefficients_for(tenant(), "CLES", day) == {Measure(k): v for k, v in expected.items()}


def test_before_the_first_set_the_daily_score_is_zero() -> None:
    coefficients = coefficients_for(tenant(), "CLES", date(2025, 7, 31))
    assert daily_score(totals(minutes=30, apps=4, checkins=1), coefficients) == 0.0


@pytest.mark.parametrize("college", ["UNKNOWN", "", "cles", None])
def test_an_unknown_or_missing_college_has_no_coefficients(college: str | None) -> None:
    assert coefficients_for(tenant(), college, date(2026, 10, 6)) == {}


def test_a_newer_set_without_the_college_replaces_the_older_one() -> None:
    # CEMPS is only in the 2025 set; from 2026-08-01 the 2026 set is in force and lacks it.
    assert coefficients_for(tenant(), "CEMPS", date(2026, 7, 31))[Measure.ELE_MINUTES] == 0.3
    assert coefficients_for(tenant(), "CEMPS", date(2026, 8, 1)) == {}


def test_a_tenant_without_coefficient_sets_scores_nothing() -> None:
    config = TenantConfig()
    assert config.coefficient_sets == ()
    assert coefficients_for(config, "CLES", date(2026, 10, 6)) == {}


# -- the moving average ---------------------------------------------------------------------

def test_score_7d_averages_the_day_and_the_six_before_with_missing_days_as_zero() -> None:
    day = date(2026, 10, 12)
    daily = {day: 7.0, day - timedelta(days=6): 14.0, day - timedelta(days=3): 0.0}
    assert WINDOW_DAYS == 7
    assert score_7d(daily, day) == pytest.approx((7.0 + 14.0) / 7)


def test_score_7d_ignores_days_outside_the_window() -> None:
    day = date(2026, 10, 12)
    daily = {day - timedelta(days=7): 70.0, day + timedelta(days=1): 70.0, day: 7.0}
    assert score_7d(daily, day) == 1.0


def test_one_active_day_is_in_seven_moving_averages() -> None:
    active = date(2026, 10, 10)
    daily = {active: 7.0}
    averages = [score_7d(daily, active + timedelta(days=n)) for n in range(-1, 8)]
    assert averages == [0.0] + [1.0] * 7 + [0.0]


def test_score_7d_of_no_activity_is_zero() -> None:
    assert score_7d({}, date(2026, 10, 12)) == 0.0


# -- bands ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("score", "band"),
    [(-1.0, "low"), (0.0, "low"), (4.999, "low"), (5.0, "typical"), (14.999, "typical"),
     (15.0, "high"), (1e9, "high")],
)
def test_default_bands_with_a_score_at_a_limit_in_the_next_band(score: float, band: str) -> None:
    assert [b.name for b in DEFAULT_BANDS] == ["low", "typical", "high"]
    assert band_for(tenant().bands, score) == band


def test_institutions_name_their_own_bands() -> None:
    config = tenant(bands=[{"name": "quiet", "below": 2.5}, {"name": "steady", "below": 10},
                           {"name": "busy", "below": 20}, {"name": "very busy"}])
    assert [band_for(config.bands, s) for s in (2.49, 2.5, 9.99, 10, 19.99, 20, 500)] == [
        "quiet", "steady", "steady", "busy", "busy", "very busy", "very busy"]


def test_a_single_unbounded_band_labels_every_score() -> None:
    config = tenant(bands=[{"name": "all"}])
    assert {band_for(config.bands, s) for s in (-5.0, 0.0, 1e6)} == {"all"}


# -- configuration validation ---------------------------------------------------------------

@pytest.mark.parametrize("zone", ["Europe/London", "America/Santiago", "Asia/Kolkata", "UTC"])
def test_known_time_zones_are_accepted(zone: str) -> None:
    assert tenant(timezone=zone).timezone == zone


def test_the_default_time_zone_is_london() -> None:
    assert TenantConfig().timezone == "Europe/London"


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "europe/london", "", "Europe/", "../etc/passwd", "Europe", "America"]
)
def test_unknown_time_zones_are_rejected_as_configuration_errors(zone: str) -> None:
    # A region name such as "Europe" is a directory in the zone database, not a zone.
    with pytest.raises(ValidationError, match="unknown time zone"):
        tenant(timezone=zone)


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        pytest.param([{"name": "a", "below": 5}, {"name": "b", "below": 2}, {"name": "c"}],
                     "ascend", id="descending"),
        pytest.param([{"name": "a", "below": 5}, {"name": "b", "below": 10}], "last band",
                     id="no-unbounded-last-band"),
        pytest.param([{"name": "a"}, {"name": "b", "below": 10}, {"name": "c"}], "last band",
                     id="unbounded-band-in-the-middle"),
        pytest.param([], "last band", id="no-bands"),
    ],
)
def test_bands_must_ascend_and_end_with_an_unbounded_band(bands: list[dict[str, Any]],
                                                          message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        tenant(bands=bands)


def test_two_bands_with_the_same_limit_are_rejected() -> None:
    # The second band could never be shown.
    with pytest.raises(ValidationError, match="ascend"):
        tenant(bands=[{"name": "low", "below": 5}, {"name": "never", "below": 5},
                      {"name": "high"}])


@pytest.mark.parametrize("measure", ["attendance", "no_module_minutes", "registrations"])
def test_coefficients_exist_only_for_scored_measures(measure: str) -> None:
    colleges = {"CLES": {**CLES_2026, measure: 1.0}}
    with pytest.raises(ValidationError, match=measure):
        tenant(coefficient_sets=[{"valid_from": "2026-08-01", "colleges": colleges}])


def test_unknown_settings_are_rejected_and_the_configuration_is_frozen() -> None:
    with pytest.raises(ValidationError, match="timezone_name"):
        tenant(timezone_name="Europe/London")
    config = tenant()
    with pytest.raises(ValidationError, match="frozen"):
        config.timezone = "UTC"  # type: ignore[misc]


def test_a_tenants_file_holds_one_validated_configuration_per_tenant() -> None:
    loaded = TenantsFile.model_validate({"tenants": {
        "uni-a": {"timezone": "Europe/London"},
        "uni-b": {"timezone": "Asia/Kolkata", "bands": [{"name": "all"}]},
    }})
    assert loaded.tenants["uni-b"].bands == (Band(name="all"),)
    assert loaded.tenants["uni-a"].bands == DEFAULT_BANDS
    with pytest.raises(ValidationError, match="unknown time zone"):
        TenantsFile.model_validate({"tenants": {"uni-c": {"timezone": "Nowhere/Land"}}})
