"""Sending events to Kafka: a JSON-lines file, or the synthetic institution's stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.topics import TOPIC_FOR_TYPE
from streams.settings import Settings
from streams.topics import ensure_topics


def route(line: bytes) -> tuple[str, bytes] | None:
    """The topic and key of one serialized event; None when it cannot be routed at all."""
    try:
        event = json.loads(line)
        topic = TOPIC_FOR_TYPE[event["type"]]
        key = f"{event['tenant']}:{event['student_id']}".encode()
    except (ValueError, KeyError, TypeError):
        return None
    return topic, key


async def send_lines(settings: Settings, lines: Iterable[bytes]) -> dict[str, int]:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        **settings.kafka_client_options(), linger_ms=20, max_batch_size=256 * 1024,
        compression_type=None, acks="all", enable_idempotence=True,
    )
    await producer.start()
    sent = unroutable = 0
    try:
        for line in lines:
            if not line.strip():
                continue
            routed = route(line)
            if routed is None:
                unroutable += 1
                continue
            topic, key = routed
            await producer.send(topic, value=line.rstrip(b"\n"), key=key)
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return {"sent": sent, "unroutable": unroutable}


def _file_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


async def produce_file(settings: Settings, path: Path) -> dict[str, int]:
    return await send_lines(settings, _file_lines(path))


async def generate(settings: Settings, students: int, days: int, seed: int, out: Path | None,
                   *, to_kafka: bool, progress: bool) -> dict[str, Any]:
    from synthetic import iter_events, plan_institution, write_jsonl

    plan = plan_institution(students=students, days=days, seed=seed)
    if out is not None:
        count = write_jsonl(iter_events(plan), out, progress=progress)
        return {"events": count, "out": str(out)}
    lines = (json.dumps(e, separators=(",", ":")).encode() for e in iter_events(plan))
    report: dict[str, Any] = dict(await send_lines(settings, lines))
    return report


async def publish_decision(settings: Settings, alert_id: str, decision: str, note: str | None,
                           tutor: str | None) -> dict[str, Any]:
    """Publish a tutor's `review.decision` for an alert on engage.review.decisions."""
    from streams.cli.read import read_query
    from streams.errors import EngageError

    found = await asyncio.to_thread(read_query, settings, "alert", {"alert_id": alert_id})
    if not found:
        raise EngageError(f"no alert {alert_id!r} in the review queue")
    alert = found[0]
    tutor_id = tutor or alert["tutor_id"]
    if not tutor_id:
        raise EngageError("the alert names no tutor; say who decides with --tutor")
    event: dict[str, Any] = {
        "event_id": f"decision-{uuid.uuid4()}",
        "type": "review.decision",
        "tenant": alert["tenant"],
        "student_id": alert["student_id"],
        "occurred_at": datetime.now(tz=UTC).isoformat(),
        "source": "engage-cli",
        "alert_id": alert_id,
        "decision": decision,
        "tutor_id": tutor_id,
    }
    if note:
        event["note"] = note
    report = await send_lines(settings, [json.dumps(event).encode()])
    if report["sent"] != 1:
        raise EngageError("the decision could not be sent")
    return event
