"""Event time as epoch milliseconds and the tenant's local days (SPEC "Tenancy and time")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.timebase import DAY_MS, MINUTE_MS, LocalCalendar, from_ms, to_ms
from tests.unit.scoring.helpers import EPOCH, local_day, local_ms

HOUR_MS = 60 * MINUTE_MS
LONDON = LocalCalendar("Europe/London")
ZONES = ["Europe/London", "America/Santiago", "Asia/Kolkata", "Australia/Lord_Howe",
         "Pacific/Chatham", "America/New_York", "UTC"]
# 2020 to 2040: the engine's working range, with DST changes in every year.
INSTANTS_MS = st.integers(min_value=1_577_836_800_000, max_value=2_208_988_800_000)


def exact_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_ms(datetime(2026, 10, 6, 10, 0))  # noqa: DTZ001 - the refusal is what is tested


def test_the_same_instant_in_any_zone_gives_the_same_milliseconds() -> None:
    in_london = datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("Europe/London"))
    in_utc = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    in_offset = datetime(2026, 7, 1, 14, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert to_ms(in_london) == to_ms(in_utc) == to_ms(in_offset) == exact_ms(in_utc)


@settings(max_examples=300)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),  # noqa: DTZ001
                    timezones=st.sampled_from([ZoneInfo(z) for z in ZONES]),
                    allow_imaginary=False))
def test_milliseconds_are_exact_and_drop_sub_millisecond_parts(moment: datetime) -> None:
    assert to_ms(moment) == exact_ms(moment)
    whole = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert to_ms(whole) == to_ms(moment)


def test_milliseconds_are_exact_where_float_seconds_round_down() -> None:
    # Float seconds times 1000 lands just under the whole millisecond for some instants (in
    # 2004 and from 2038, for example); truncating that loses a millisecond, which turns an
    # exact five-minute gap into 4 min 59.999 s and changes the VLE minutes credited.
    moment = datetime(2038, 1, 20, 0, 0, 0, 2000, tzinfo=ZoneInfo("Europe/London"))
    assert to_ms(moment) == 2_147_558_400_002
    assert to_ms(from_ms(2_170_402_640_246)) == 2_170_402_640_246
    assert to_ms(from_ms(1_093_252_323_044)) == 1_093_252_323_044


@given(INSTANTS_MS)
def test_from_ms_gives_the_utc_instant_back(ms: int) -> None:
    moment = from_ms(ms)
    assert moment.utcoffset() == timedelta(0)
    assert moment == EPOCH + timedelta(milliseconds=ms)


def test_constants_are_a_minute_and_a_day() -> None:
    assert (MINUTE_MS, DAY_MS) == (60_000, 86_400_000)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(local_ms(2026, 10, 6, 0, 0), date(2026, 10, 6), id="ordinary-midnight"),
        pytest.param(local_ms(2026, 10, 6, 0, 0) - 1, date(2026, 10, 5), id="just-before"),
        pytest.param(local_ms(2026, 3, 29, 0, 30), date(2026, 3, 29), id="spring-00:30"),
        pytest.param(local_ms(2026, 3, 29, 23, 30), date(2026, 3, 29), id="spring-23:30"),
        pytest.param(local_ms(2026, 3, 29, 2, 0) - 1, date(2026, 3, 29), id="spring-01:59:59"),
        pytest.param(local_ms(2026, 10, 25, 0, 30), date(2026, 10, 25), id="autumn-00:30"),
        pytest.param(local_ms(2026, 10, 25, 1, 30), date(2026, 10, 25), id="autumn-01:30-BST"),
        pytest.param(local_ms(2026, 10, 25, 1, 30, fold=1), date(2026, 10, 25),
                     id="autumn-01:30-GMT"),
        pytest.param(local_ms(2026, 10, 25, 23, 30), date(2026, 10, 25), id="autumn-23:30"),
        pytest.param(local_ms(2026, 10, 26, 0, 0), date(2026, 10, 26), id="after-autumn"),
        # 23:30 UTC on a summer evening is already the next day in London.
        pytest.param(exact_ms(datetime(2026, 7, 1, 23, 30, tzinfo=UTC)), date(2026, 7, 2),
                     id="summer-utc-evening"),
    ],
)
def test_instants_land_on_their_london_day(moment: int, expected: date) -> None:
    assert LocalCalendar("Europe/London").day_of(moment) == expected


def test_the_repeated_autumn_hour_is_two_instants_an_hour_apart_on_the_same_day() -> None:
    first = local_ms(2026, 10, 25, 1, 30)
    second = local_ms(2026, 10, 25, 1, 30, fold=1)
    assert second - first == HOUR_MS
    assert LONDON.day_of(first) == LONDON.day_of(second) == date(2026, 10, 25)


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 3, 28), 24),
     (date(2026, 10, 26), 24), (date(2027, 3, 28), 23), (date(2027, 10, 31), 25)],
)
def test_london_days_are_23_24_or_25_hours_long(day: date, hours: int) -> None:
    assert LONDON.end_ms(day) - LONDON.start_ms(day) == hours * HOUR_MS


def test_a_day_starts_at_local_midnight_and_ends_where_the_next_begins() -> None:
    day = date(2026, 10, 25)
    assert LONDON.start_ms(day) == exact_ms(datetime(2026, 10, 24, 23, 0, tzinfo=UTC))
    assert LONDON.end_ms(day) == exact_ms(datetime(2026, 10, 26, 0, 0, tzinfo=UTC))
    assert LONDON.end_ms(day) == LONDON.start_ms(day + timedelta(days=1))


def test_a_zone_whose_midnight_does_not_exist_starts_the_day_at_the_change() -> None:
    # Chile moves its clocks from 00:00 to 01:00 on 6 September 2026.
    santiago = LocalCalendar("America/Santiago")
    start = santiago.start_ms(date(2026, 9, 6))
    assert start == exact_ms(datetime(2026, 9, 6, 4, 0, tzinfo=UTC))
    assert santiago.day_of(start) == date(2026, 9, 6)
    assert santiago.day_of(start - 1) == date(2026, 9, 5)
    assert santiago.end_ms(date(2026, 9, 6)) - start == 23 * HOUR_MS


@settings(max_examples=200)
@given(st.sampled_from(ZONES), st.lists(INSTANTS_MS, min_size=1, max_size=30),
       st.lists(st.integers(min_value=-2, max_value=2), min_size=1, max_size=30))
def test_day_of_agrees_with_zoneinfo_whatever_the_order_of_questions(
    zone: str, instants: list[int], nudges: list[int]
) -> None:
    """Looking up days in any order, including the milliseconds either side of a midnight,
    never returns a day remembered from an earlier question."""
    calendar = LocalCalendar(zone)
    timezone_info = ZoneInfo(zone)
    questions: list[int] = []
    for index, ms in enumerate(instants):
        day = local_day(ms, timezone_info)
        midnight = calendar.start_ms(day) + nudges[index % len(nudges)]
        questions += [ms, midnight, ms + DAY_MS, ms - 1]
    for ms in questions:
        day = calendar.day_of(ms)
        assert day == local_day(ms, timezone_info)
        assert calendar.start_ms(day) <= ms < calendar.end_ms(day)


@given(st.integers(min_value=0, max_value=63_000_000_000))  # 1970 to 1971
def test_a_midnight_off_the_quarter_hour_still_divides_the_days(ms: int) -> None:
    """Liberia kept UTC-0:44:30 until 1972: its midnights fall inside quarter-hours."""
    monrovia = LocalCalendar("Africa/Monrovia")
    midnight = monrovia.start_ms(local_day(ms, ZoneInfo("Africa/Monrovia")))
    for instant in (ms, midnight - 1, midnight, midnight + 1):
        assert monrovia.day_of(instant) == local_day(instant, ZoneInfo("Africa/Monrovia"))
