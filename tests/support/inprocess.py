"""The worker's batch step in the test process: the real `Processor` on the real ClickHouse
engine (an embedded folder of the test's own), with a clock the test sets."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from schemas.topics import TOPIC_FOR_TYPE
from streams.engine.local import Processor, RawRecord
from streams.engine.sink import open_sink
from streams.engine.students import MemoryStates
from streams.settings import Settings
from tests.conftest import TEST_TENANTS


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> int:
        return int(self.now.timestamp() * 1000)


def processor_on(folder: Path, clock: Clock) -> Processor:
    tenants = folder / "tenants.yaml"
    tenants.write_text(yaml.safe_dump(TEST_TENANTS))
    settings = Settings(clickhouse_url=f"chdb://{folder / 'clickhouse'}", tenant_config=tenants)
    return Processor(tenants=settings.tenants, sink=open_sink(settings), states=MemoryStates(),
                     wall_clock_ms=clock)


def records(*payloads: dict[str, Any], first_offset: int = 1) -> list[RawRecord]:
    """Each event as the worker reads it: on its type's topic, keyed by tenant and student."""
    return [
        RawRecord(TOPIC_FOR_TYPE[p["type"]], 0, first_offset + n,
                  f"{p['tenant']}:{p['student_id']}".encode(), json.dumps(p).encode())
        for n, p in enumerate(payloads)
    ]
