"""Today's figures while a student is still clicking: the last click's 2 minutes appear once
five quiet minutes pass on the wall clock, without waiting for another event. The worker's
batch step and its housekeeping tick, on the real ClickHouse engine, with a settable clock."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sinks import queries
from streams.app import open_sink
from streams.processor import Processor, RawRecord
from streams.settings import Settings
from streams.state_store import MemoryStates
from tests.conftest import TEST_TENANTS
from tests.support.events import event

pytestmark = pytest.mark.integration

TENANT = "uni-test"
CLICK_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DAY = date(2026, 11, 24)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> int:
        return int(self.now.timestamp() * 1000)


def record(payload: dict[str, Any], offset: int) -> RawRecord:
    key = f"{payload['tenant']}:{payload['student_id']}".encode()
    topic = {"vle.click": "engage.vle.clicks", "roster.student": "engage.roster"}[payload["type"]]
    return RawRecord(topic, 0, offset, key, json.dumps(payload).encode())


def minutes_on(processor: Processor, student: str) -> float:
    measures, _ = processor.sink.run_sync(
        lambda client: queries.daily_rows(client, TENANT, student, DAY, DAY))
    return float(measures[0]["ele_minutes"]) if measures else 0.0


def test_the_last_click_counts_once_five_quiet_minutes_pass_on_the_wall_clock(
    tmp_path: Path,
) -> None:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(yaml.safe_dump(TEST_TENANTS))
    settings = Settings(clickhouse_url=f"chdb://{tmp_path / 'clickhouse'}",
                        tenant_config=tenants)
    clock = Clock(CLICK_AT + timedelta(seconds=2))
    processor = Processor(tenants=settings.tenants, sink=open_sink(settings),
                          states=MemoryStates(), wall_clock_ms=clock)

    async def run() -> list[float]:
        seen = []
        await processor.process([
            record(event("roster.student", "live", CLICK_AT - timedelta(days=1),
                         college="CLES"), 1),
            record(event("vle.click", "live", CLICK_AT - timedelta(minutes=3),
                         module="BIO1001"), 2),
            record(event("vle.click", "live", CLICK_AT, module="BIO1001"), 3),
        ])
        seen.append(minutes_on(processor, "live"))
        clock.now = CLICK_AT + timedelta(minutes=4, seconds=59)
        await processor.tick()
        seen.append(minutes_on(processor, "live"))
        clock.now = CLICK_AT + timedelta(minutes=5, seconds=1)
        await processor.tick()
        seen.append(minutes_on(processor, "live"))
        await processor.tick()
        seen.append(minutes_on(processor, "live"))
        return seen

    try:
        seen = asyncio.run(run())
    finally:
        processor.sink.close()
    # 3 minutes between the clicks at once; the last click's 2 only after 5 quiet minutes,
    # and only once however often the clock ticks after that.
    assert seen == [3.0, 3.0, 5.0, 5.0]
