"""Faults from outside the engine, through the real broker and the real worker subprocess.

- Poison at every 1,000th offset of every input partition, of each kind a producer can really
  send (broken JSON, JSON that breaks the event schema, an unknown tenant, a body that is not
  UTF-8, a tombstone), is dead-lettered exactly once each, in the `dead_letters` table and on
  engage.deadletter, where it was produced; the valid events around it come out exactly as
  `engage backfill` computes them from the valid events alone.
- While ClickHouse refuses writes, the worker stays up, counts the failures and commits no
  offset past the rows it could not write; once writes are accepted again it catches up, and
  the result is again exactly the backfill's: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from schemas.records import DeadLetterRecord
from schemas.topics import CONSENT, DEADLETTER, INPUT_TOPICS, ROSTER, VLE_CLICKS
from streams.cli.produce import route
from tests.integration import test_stream_equals_backfill as equivalence
from tests.support.clickhouse import open_clickhouse, rows
from tests.support.flaky_clickhouse_worker import FlakyClickHouseWorker
from tests.support.raw_kafka import (
    GroupPositions,
    Location,
    RawMessage,
    group_positions,
    partition_counts,
    partition_for,
    produce_raw,
    read_to_end,
)
from tests.support.worker import JUDGED_AFTER_IDLE_SECONDS, EngineEnv, WorkerProcess

pytestmark = pytest.mark.integration

# The synthetic institution (three weeks, so that rules raise alerts) and the demo tenants.
institution = equivalence.institution
demo_env = equivalence.demo_env

GROUP = "engage-test-worker"
POISON_EVERY = 1000
GHOST_TENANT = "ghost-university"
WireEvent = dict[str, Any]
KeyAndValue = tuple[bytes | None, bytes | None]


# -- poison ------------------------------------------------------------------------------------
def _key(event: WireEvent) -> bytes:
    return f"{event['tenant']}:{event['student_id']}".encode()


def _compact(event: WireEvent) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def _cut_short(event: WireEvent, line: bytes, number: int) -> KeyAndValue:
    # A producer that died mid-write.
    return _key(event), line[: len(line) // 2]


def _bad_timestamp(event: WireEvent, line: bytes, number: int) -> KeyAndValue:
    return _key(event), _compact({**event, "event_id": f"poison-{number}",
                                  "occurred_at": "last tuesday"})


def _unknown_tenant(event: WireEvent, line: bytes, number: int) -> KeyAndValue:
    # Right topic, right key: only the tenant is unknown.
    ghost = {**event, "event_id": f"poison-{number}", "tenant": GHOST_TENANT}
    return _key(ghost), _compact(ghost)


def _latin1(event: WireEvent, line: bytes, number: int) -> KeyAndValue:
    # A producer that encodes its JSON as Latin-1: 'ë' is one byte that is not UTF-8.
    text = json.dumps({**event, "event_id": f"poison-{number}", "source": "Zoë's kiosk"},
                      ensure_ascii=False)
    return _key(event), text.encode("latin-1")


def _tombstone(event: WireEvent, line: bytes, number: int) -> KeyAndValue:
    return _key(event), None


@dataclass(frozen=True)
class PoisonKind:
    name: str
    make: Callable[[WireEvent, bytes, int], KeyAndValue]
    reason: str
    detail_mentions: str


POISON_KINDS = (
    PoisonKind("broken JSON", _cut_short, "not_json", "not JSON"),
    PoisonKind("schema violation", _bad_timestamp, "schema_violation", "occurred_at"),
    PoisonKind("unknown tenant", _unknown_tenant, "unknown_tenant", GHOST_TENANT),
    PoisonKind("not UTF-8", _latin1, "not_json", "not JSON"),
    PoisonKind("tombstone", _tombstone, "not_json", "tombstone"),
)


@dataclass(frozen=True)
class Poison:
    kind: PoisonKind
    message: RawMessage


@dataclass
class PoisonedStream:
    """Valid events exactly as `engage produce` sends them (same bytes, topic, key and so
    partition), with a poison message put first wherever a valid event would otherwise land
    on an offset that is a multiple of POISON_EVERY: offsets 0, 1000, 2000... of every
    partition that carries events hold poison, the kinds taking turns."""

    partitions: dict[str, int]
    sent: Counter[tuple[str, int]] = field(default_factory=Counter)
    kinds: Iterator[PoisonKind] = field(default_factory=lambda: itertools.cycle(POISON_KINDS))

    def messages(self, events_file: Path) -> tuple[list[RawMessage], dict[int, Poison]]:
        messages: list[RawMessage] = []
        poison: dict[int, Poison] = {}
        with events_file.open("rb") as lines:
            for raw_line in lines:
                if not raw_line.strip():
                    continue
                line = raw_line.rstrip(b"\n")
                routed = route(line)
                assert routed is not None, line
                topic, key = routed
                partition = partition_for(key, self.partitions[topic])
                if self.sent[topic, partition] % POISON_EVERY == 0:
                    index, kind = len(messages), next(self.kinds)
                    poison_key, value = kind.make(json.loads(line), line, index)
                    poison[index] = Poison(kind, RawMessage(topic, poison_key, value, partition))
                    messages.append(poison[index].message)
                    self.sent[topic, partition] += 1
                messages.append(RawMessage(topic, key, line))
                self.sent[topic, partition] += 1
        return messages, poison

    def produce(self, bootstrap: str, events_file: Path) -> dict[Location, Poison]:
        """Send the file's events with poison among them; returns where the poison landed."""
        messages, poison = self.messages(events_file)
        landed = asyncio.run(produce_raw(bootstrap, messages))
        return {landed[index]: sent for index, sent in poison.items()}


def count_lines(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for line in lines if line.strip())


def exact_bytes(text: str | None, encoding: str) -> bytes | None:
    """The bytes a dead letter stores as text, as they were on the wire."""
    if encoding == "none":
        return None
    assert text is not None
    return base64.b64decode(text) if encoding == "base64" else text.encode()


def test_a_poison_message_every_thousand_offsets_all_dead_lettered(
    demo_env: EngineEnv, institution: tuple[Path, Path, int], tmp_path: Path
) -> None:
    setup, activity, valid_count = institution
    valid_events = tmp_path / "institution.jsonl"
    worker = WorkerProcess(demo_env).start()
    try:
        stream = PoisonedStream(asyncio.run(partition_counts(demo_env.bootstrap,
                                                             INPUT_TOPICS)))
        poison = stream.produce(demo_env.bootstrap, setup)
        worker.wait_seen(count_lines(setup) + len(poison))
        poison |= stream.produce(demo_env.bootstrap, activity)
        worker.wait_seen(valid_count + len(poison))
        time.sleep(JUDGED_AFTER_IDLE_SECONDS)
        dead_lettered = worker.metric("engage_events_dead_lettered_total")
        consumed = worker.metric("engage_events_consumed_total")
    finally:
        worker.stop()

    # The poison landed where it was meant to, so the valid events' partitions were predicted
    # right: they are where `engage produce` puts them.
    assert all(offset % POISON_EVERY == 0 for _, _, offset in poison), sorted(poison)
    assert {(topic, partition) for topic, partition, offset in poison if offset == 0} == set(
        stream.sent), "every partition carrying events starts with poison"
    assert {topic for topic, _, _ in poison} >= {ROSTER, CONSENT, VLE_CLICKS}
    assert any(offset > 0 for _, _, offset in poison), "no partition reached offset 1000"
    assert {p.kind.name for p in poison.values()} == {k.name for k in POISON_KINDS}
    assert (dead_lettered, consumed) == (len(poison), valid_count)

    with open_clickhouse(demo_env.clickhouse_path) as client:
        letters = rows(client, "SELECT topic, partition, offset, key, key_encoding, original, "
                               "original_encoding, reason, detail FROM dead_letters")
    written = Counter((topic, partition, offset) for topic, partition, offset, *_ in letters)
    assert [where for where, times in written.items() if times > 1] == []
    assert set(written) == set(poison), (
        f"not dead-lettered: {sorted(set(poison) - set(written))}; "
        f"dead-lettered but valid: {sorted(set(written) - set(poison))}")
    for topic, partition, offset, key, key_encoding, original, encoding, reason, detail in \
            letters:
        sent = poison[topic, partition, offset]
        what = f"{sent.kind.name} at {topic}/{partition}@{offset}"
        assert (reason, exact_bytes(original, encoding)) == (sent.kind.reason,
                                                             sent.message.value), what
        assert exact_bytes(key, key_encoding) == sent.message.key, what
        assert sent.kind.detail_mentions in detail, f"{what}: {detail}"

    published = asyncio.run(read_to_end(demo_env.bootstrap, DEADLETTER))
    assert len(published) == len(poison), "the dead-letter topic holds a letter per poison"
    on_topic = {}
    for _, key, value in published:
        assert value is not None
        letter = DeadLetterRecord.model_validate_json(value)
        assert letter.partition is not None
        assert letter.offset is not None
        sent = poison[letter.topic, letter.partition, letter.offset]
        assert (key, letter.original_bytes() if letter.original_encoding != "none" else None
                ) == (sent.message.key, sent.message.value)
        on_topic[letter.topic, letter.partition, letter.offset] = str(letter.reason)
    assert on_topic == {where: p.kind.reason for where, p in poison.items()}

    streamed = equivalence.snapshot(demo_env.clickhouse_path)
    assert streamed["alerts"], "three weeks of a synthetic institution raise some alerts"
    equivalence.assert_same(streamed,
                            equivalence.backfilled(demo_env, valid_events, tmp_path))


# -- ClickHouse outage -------------------------------------------------------------------------
OUTAGE_SECONDS_WATCHED = 8


def positions(env: EngineEnv) -> GroupPositions:
    return asyncio.run(group_positions(env.bootstrap, GROUP, INPUT_TOPICS))


def wait_all_committed(worker: WorkerProcess, env: EngineEnv, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (lag := positions(env).lag) > 0:
        assert time.monotonic() < deadline, f"lag still {lag}:\n{worker.log()}"
        time.sleep(1)


def test_clickhouse_writes_failing_for_a_while_lose_nothing_and_commit_nothing_past_them(
    demo_env: EngineEnv, institution: tuple[Path, Path, int], tmp_path: Path
) -> None:
    setup, activity, _ = institution
    everything = tmp_path / "institution.jsonl"
    # Short backoff: failures keep coming while the outage is watched, and the worker retries
    # within a second of ClickHouse coming back.
    demo_env.extra["ENGAGE_SINK_RETRY_MAX_SECONDS"] = "1"
    worker = FlakyClickHouseWorker(demo_env, tmp_path / "clickhouse-refuses-writes")
    worker.start()
    try:
        demo_env.engage("produce", "--events", str(setup))
        worker.wait_seen(count_lines(setup))
        wait_all_committed(worker, demo_env, timeout=60)
        before = positions(demo_env)

        worker.begin_outage()
        try:
            demo_env.engage("produce", "--events", str(activity))
            worker.wait_metric("engage_sink_errors_total", 1, timeout=60)
            errors = worker.metric("engage_sink_errors_total")
            rows_written = worker.metric("engage_sink_rows_written_total")
            for _ in range(OUTAGE_SECONDS_WATCHED):
                time.sleep(1)
                during = positions(demo_env)
                assert during.committed == before.committed, (
                    "offsets committed past rows ClickHouse refused:\n" + worker.log())
                assert during.lag == count_lines(activity)
                assert worker.proc is not None
                assert worker.proc.poll() is None, worker.log()
                assert worker.get("/healthz")[0] == 200, "waiting on ClickHouse is no stall"
            assert worker.metric("engage_sink_errors_total") > errors, "writes not retried"
            assert worker.metric("engage_sink_rows_written_total") == rows_written
        finally:
            worker.end_outage()

        wait_all_committed(worker, demo_env, timeout=240)
        time.sleep(JUDGED_AFTER_IDLE_SECONDS)
        assert worker.proc is not None
        assert worker.proc.poll() is None, "the worker recovers by itself"
    finally:
        worker.stop()
    equivalence.assert_same(equivalence.snapshot(demo_env.clickhouse_path),
                            equivalence.backfilled(demo_env, everything, tmp_path))
