"""Today's figures while a student is still clicking: the last click's 2 minutes appear once
five quiet minutes pass on the wall clock, without waiting for another event. The worker's
batch step and its housekeeping tick, on the real ClickHouse engine, with a settable clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from sinks import queries
from tests.support.events import event
from tests.support.inprocess import Clock, InProcessEngine, engine_on, records

pytestmark = pytest.mark.integration

TENANT = "uni-test"
CLICK_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DAY = date(2026, 11, 24)


def minutes_on(engine: InProcessEngine, student: str) -> float:
    measures, _ = engine.sink.run_sync(
        lambda client: queries.daily_rows(client, TENANT, student, DAY, DAY))
    return float(measures[0]["ele_minutes"]) if measures else 0.0


def test_the_last_click_counts_once_five_quiet_minutes_pass_on_the_wall_clock(
    tmp_path: Path,
) -> None:
    clock = Clock(CLICK_AT + timedelta(seconds=2))
    engine = engine_on(tmp_path, clock)

    async def run() -> list[float]:
        seen = []
        await engine.process(records(
            event("roster.student", "live", CLICK_AT - timedelta(days=1), college="CLES"),
            event("vle.click", "live", CLICK_AT - timedelta(minutes=3), module="BIO1001"),
            event("vle.click", "live", CLICK_AT, module="BIO1001"),
        ))
        seen.append(minutes_on(engine, "live"))
        clock.now = CLICK_AT + timedelta(minutes=4, seconds=59)
        await engine.tick()
        seen.append(minutes_on(engine, "live"))
        clock.now = CLICK_AT + timedelta(minutes=5, seconds=1)
        await engine.tick()
        seen.append(minutes_on(engine, "live"))
        await engine.tick()
        seen.append(minutes_on(engine, "live"))
        return seen

    try:
        seen = asyncio.run(run())
    finally:
        engine.sink.close()
    # 3 minutes between the clicks at once; the last click's 2 only after 5 quiet minutes,
    # and only once however often the clock ticks after that.
    assert seen == [3.0, 3.0, 5.0, 5.0]
