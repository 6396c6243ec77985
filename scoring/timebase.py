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
ONE_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("event time must be timezone-aware")
    # Integer arithmetic: float seconds x 1000 can land just under a whole millisecond.
    return (moment - EPOCH) // ONE_MS


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# Local days change on a quarter-hour boundary in every zone in use since 1972, so nearly every
# quarter-hour lies within one local day and can answer for all its instants.
QUARTER_HOUR_MS = 15 * MINUTE_MS
QUARTERS_CACHED = 5000


class LocalCalendar:
    """Maps instants to the tenant's local days, including the 23 h and 25 h DST days."""

    __slots__ = ("_days", "tz")

    def __init__(self, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)
        self._days: dict[int, date | None] = {}  # None: a quarter-hour spanning two days

    def day_of(self, ms: int) -> date:
        # Called for every event; partitions replayed side by side interleave several days.
        quarter = ms // QUARTER_HOUR_MS
        day = self._days.get(quarter, date.min)
        if day is None:
            return self._local_day(ms)
        if day is date.min:
            if len(self._days) >= QUARTERS_CACHED:
                self._days.clear()
            first = self._local_day(quarter * QUARTER_HOUR_MS)
            last = self._local_day((quarter + 1) * QUARTER_HOUR_MS - 1)
            self._days[quarter] = first if first == last else None
            return first if first == last else self._local_day(ms)
        return day

    def _local_day(self, ms: int) -> date:
        return datetime.fromtimestamp(ms / 1000, tz=self.tz).date()

    def start_ms(self, day: date) -> int:
        return to_ms(datetime.combine(day, time.min, tzinfo=self.tz))

    def end_ms(self, day: date) -> int:
        return self.start_ms(day + timedelta(days=1))
