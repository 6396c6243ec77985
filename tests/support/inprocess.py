"""The worker's engine in the test process: the real `LocalEngine` on the real ClickHouse engine
(an embedded folder of the test's own), with a clock the test sets and the messages it would
have sent kept for the test to read."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from schemas.topics import TOPIC_FOR_TYPE
from scoring.config import TenantConfig
from sinks.stored import StoredRecords
from sinks.writer import ClickHouseSink
from streams.engine.contract import Kept, RawRecord
from streams.engine.local import LocalEngine
from streams.engine.sink import open_sink
from streams.engine.students import MemoryStates, StateStore
from streams.settings import Settings
from tests.conftest import TEST_TENANTS


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> int:
        return int(self.now.timestamp() * 1000)


class InProcessEngine(LocalEngine):
    """A `LocalEngine` on a ClickHouse sink, keeping what it publishes."""

    sink: ClickHouseSink
    publisher: Kept

    def __init__(self, *, tenants: dict[str, TenantConfig], sink: ClickHouseSink,
                 states: StateStore | None = None,
                 wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 **options: Any) -> None:
        super().__init__(tenants=tenants, sink=sink, stored=StoredRecords(sink),
                         states=MemoryStates() if states is None else states,
                         publisher=Kept(),
                         wall_clock_ms=wall_clock_ms, **options)

    def sent(self, topic: str) -> list[dict[str, Any]]:
        """The messages published on `topic` since last asked, decoded."""
        kept = self.publisher.take()
        self.publisher.messages = [m for m in kept if m.topic != topic]
        return [json.loads(m.value) for m in kept if m.topic == topic]


def engine_on(folder: Path, clock: Clock) -> InProcessEngine:
    tenants = folder / "tenants.yaml"
    tenants.write_text(yaml.safe_dump(TEST_TENANTS))
    settings = Settings(clickhouse_url=f"chdb://{folder / 'clickhouse'}", tenant_config=tenants)
    return InProcessEngine(tenants=settings.tenants, sink=open_sink(settings),
                           wall_clock_ms=clock)


def records(*payloads: dict[str, Any], first_offset: int = 1) -> list[RawRecord]:
    """Each event as the worker reads it: on its type's topic, keyed by tenant and student."""
    return [
        RawRecord(TOPIC_FOR_TYPE[p["type"]], 0, first_offset + n,
                  f"{p['tenant']}:{p['student_id']}".encode(), json.dumps(p).encode())
        for n, p in enumerate(payloads)
    ]
