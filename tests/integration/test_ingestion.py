"""Bad input through the real broker: every bad record is dead-lettered with its reason and
exact bytes, every good one is processed exactly once, and the worker keeps consuming."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support.clickhouse import open_clickhouse, rows
from tests.support.events import event
from tests.support.worker import EngineEnv, WorkerProcess

pytestmark = pytest.mark.integration


def _original(stored: str, encoding: str) -> bytes | None:
    """A dead letter's original bytes, as its `original_encoding` says they were kept."""
    if encoding == "none":
        return None
    return base64.b64decode(stored) if encoding == "base64" else stored.encode()


async def send_raw(bootstrap: str, records: Sequence[tuple[str, bytes | None, bytes | None]]
                   ) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * 1024 * 1024)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, count: int, wait_seconds: float = 60
                     ) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", fetch_max_bytes=4 * 1024 * 1024)
    await consumer.start()
    found: list[dict[str, object]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while len(found) < count and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            found += [json.loads(m.value) for ms in batches.values() for m in ms if m.value]
    finally:
        await consumer.stop()
    return found


def test_mixed_stream_dead_letters_bad_records_and_counts_good_ones_once(
    engine_env: EngineEnv, worker: WorkerProcess, tmp_path: Path
) -> None:
    now = datetime.now(tz=UTC).replace(microsecond=0)
    good = event("vle.click", "s1", now - timedelta(hours=1), module="BIO1001")
    good_again = dict(good)
    good_app = event("app.menu_choice", "s1", now - timedelta(minutes=50), menu_item="timetable")
    future = event("vle.click", "s1", now + timedelta(hours=25), module="BIO1001")
    wrong_topic = event("app.menu_choice", "s1", now, menu_item="library")
    naive = event("vle.click", "s1", now, module="BIO1001")
    naive["occurred_at"] = now.replace(tzinfo=None).isoformat()
    unknown_type = event("vle.scroll", "s1", now)
    other_student = event("vle.click", "s2", now, module="BIO1001")

    def raw(e: dict[str, object]) -> bytes:
        return json.dumps(e).encode()

    key = b"uni-test:s1"
    bad = {
        "not_json": ("engage.vle.clicks", key, b"{this is not json"),
        "not_utf8": ("engage.vle.clicks", key, b"\xff\xfe\x00binary"),
        "schema_violation": ("engage.vle.clicks", key, raw(naive)),
        "unknown_type": ("engage.vle.clicks", key, raw(unknown_type)),
        "wrong_topic": ("engage.vle.clicks", key, raw(wrong_topic)),
        "key_mismatch": ("engage.vle.clicks", key, raw(other_student)),
        "future_timestamp": ("engage.vle.clicks", key, raw(future)),
        "tombstone": ("engage.vle.clicks", key, None),
        # near the broker's 1 MB limit; a third larger once base64-encoded
        "huge_binary": ("engage.vle.clicks", key, b"\xff" + bytes(range(256)) * 3000),
    }
    expected_reason = {
        "not_json": "not_json", "not_utf8": "not_json", "schema_violation": "schema_violation",
        "unknown_type": "unknown_type", "wrong_topic": "wrong_topic",
        "key_mismatch": "key_mismatch", "future_timestamp": "future_timestamp",
        "tombstone": "not_json", "huge_binary": "not_json",
    }
    records = [
        ("engage.vle.clicks", key, raw(good)),
        *bad.values(),
        ("engage.vle.clicks", key, raw(good_again)),
        ("engage.app.menu", key, raw(good_app)),
    ]
    worker.start()
    asyncio.run(send_raw(engine_env.bootstrap, records))
    worker.wait_metric("engage_events_dead_lettered_total", len(bad))
    worker.wait_metric("engage_events_consumed_total", 3)

    # still consuming after all that
    late_good = event("app.menu_choice", "s1", now - timedelta(minutes=40), menu_item="news")
    asyncio.run(send_raw(engine_env.bootstrap, [("engage.app.menu", key, raw(late_good))]))
    worker.wait_metric("engage_events_consumed_total", 4)
    assert worker.metric("engage_events_duplicate_total") == 1
    worker.stop()

    with open_clickhouse(engine_env.clickhouse_path) as client:
        letters = rows(client, "SELECT original, original_encoding, reason, detail, topic, "
                               "partition, offset FROM dead_letters FINAL")
        activity = rows(client, "SELECT event_id FROM activity FINAL ORDER BY event_id")
        measures = rows(client, "SELECT app_choices FROM daily_measures FINAL "
                                "WHERE student_id = 's1' AND app_choices > 0")
    assert len(letters) == len(bad)
    by_original = {_original(o, enc): (reason, detail)
                   for o, enc, reason, detail, _, _, _ in letters}
    for name, (_, _, value) in bad.items():
        reason, detail = by_original[value]
        assert reason == expected_reason[name], (name, detail)
        assert detail
    assert all(offset >= 0 and topic == "engage.vle.clicks" for *_, topic, _, offset in letters)
    assert sorted(e for (e,) in activity) == sorted(
        [good["event_id"], good_app["event_id"], late_good["event_id"]])
    assert sum(c for (c,) in measures) == 2

    published = asyncio.run(read_topic(engine_env.bootstrap, "engage.deadletter", len(bad)))
    assert sorted(str(m["reason"]) for m in published) == sorted(expected_reason.values())
    assert [m["original_truncated"] for m in published].count(True) == 1
