"""A record that makes processing fail is dead-lettered; the rest of its batch goes through."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scoring.student import StudentState
from sinks.clickhouse import connect, migrate
from sinks.writer import ClickHouseSink
from streams.processor import Processor, RawRecord
from streams.settings import load_tenants
from streams.state_store import MemoryStates
from tests.support.clickhouse import rows
from tests.support.events import event

pytestmark = pytest.mark.integration


class BrokenForOneStudent(MemoryStates):
    """State that cannot be loaded for one student, as after a corrupted snapshot."""

    def get(self, key: str) -> StudentState | None:
        if key.endswith(":poison"):
            raise ValueError("snapshot cannot be decoded")
        return super().get(key)


def test_a_poison_record_is_dead_lettered_and_its_batch_survives(tenant_file: Path,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "clickhouse"

    def open_client():  # type: ignore[no-untyped-def]
        client = connect(f"chdb://{path}", "engage")
        migrate(client)
        return client

    sink = ClickHouseSink(open_client)
    processor = Processor(tenants=load_tenants(tenant_file), sink=sink,
                          states=BrokenForOneStudent())
    at = datetime.now(tz=UTC) - timedelta(hours=1)
    records = [
        RawRecord("engage.vle.clicks", 0, offset, f"uni-test:{student}".encode(),
                  json.dumps(event("vle.click", student, at, module="BIO1001")).encode())
        for offset, student in enumerate(["ok1", "poison", "ok2"])
    ]
    try:
        outcome = asyncio.run(processor.process_isolating(records))
        letters = sink.run_sync(lambda c: rows(c, "SELECT offset, reason, detail "
                                                  "FROM dead_letters FINAL"))
        stored = sink.run_sync(lambda c: rows(c, "SELECT student_id FROM activity FINAL "
                                                 "ORDER BY student_id"))
    finally:
        sink.close()
    assert outcome.dead_lettered == 1
    assert letters == [(1, "processing_failed", "ValueError: snapshot cannot be decoded")]
    assert stored == [("ok1",), ("ok2",)]
