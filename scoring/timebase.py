"""Event time as integer epoch milliseconds and the tenant's local calendar days.

Integer milliseconds keep sums exact, so a replay, a recompute and the live stream agree to the
last digit whatever order they add in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
DAY_MS = 86_400_000


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("event time must be timezone-aware")
    # Integer arithmetic: float seconds x 1000 can land just under a whole millisecond.
    return (moment - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class LocalCalendar:
    """Maps instants to the tenant's local days, including the 23 h and 25 h DST days."""

    __slots__ = ("_cache_day", "_cache_end", "_cache_start", "tz")

    def __init__(self, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)
        self._cache_start = 0
        self._cache_end = -1
        self._cache_day = date.min

    def day_of(self, ms: int) -> date:
        # Events of one student cluster in time, so the last day's bounds answer most look-ups.
        if self._cache_start <= ms < self._cache_end:
            return self._cache_day
        day = datetime.fromtimestamp(ms / 1000, tz=self.tz).date()
        self._cache_day = day
        self._cache_start = self.start_ms(day)
        self._cache_end = self.start_ms(day + timedelta(days=1))
        return day

    def start_ms(self, day: date) -> int:
        return to_ms(datetime.combine(day, time.min, tzinfo=self.tz))

    def end_ms(self, day: date) -> int:
        return self.start_ms(day + timedelta(days=1))
