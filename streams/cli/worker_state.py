"""The workers' students' state, as `engage recompute` reads and rewrites it: the compacted
changelog topic the worker restores from (see `streams.engine.students`)."""

from __future__ import annotations

import asyncio

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from scoring.student import StudentState
from streams.engine.outbound import Outbound
from streams.engine.students import changelog_key
from streams.errors import WorkerStateUnavailable
from streams.settings import Settings

CONNECT_SECONDS = 20.0


def students_changelog_topic(worker_id: str) -> str:
    """The changelog of the worker's `students` table, as Faust names it."""
    return f"{worker_id}-students-changelog"


async def read_states(settings: Settings, tenant: str) -> dict[str, StudentState]:
    """Every student of `tenant` the workers hold, as last written (by key)."""
    topic = students_changelog_topic(settings.worker_id)
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False,
                                client_id=f"{settings.worker_id}-recompute")
    try:
        await asyncio.wait_for(consumer.start(), CONNECT_SECONDS)
    except (TimeoutError, KafkaConnectionError, KafkaError) as exc:
        await consumer.stop()
        raise WorkerStateUnavailable(
            f"cannot reach Kafka at {settings.kafka_bootstrap} to update the workers' state "
            f"({type(exc).__name__}); start the broker (the workers stopped), or pass "
            "--no-worker-state if no worker has ever run against this store") from None
    try:
        partitions = await _partitions_of(settings, topic)
        if not partitions:
            return {}
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        latest: dict[str, bytes | None] = {}
        remaining = {tp for tp in assigned if ends[tp] > 0}
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000)
            for messages in fetched.values():
                for message in messages:
                    key = orjson.loads(message.key) if message.key is not None else None
                    if isinstance(key, str):
                        latest[key] = message.value
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        prefix = f"{tenant}:"
        return {key: StudentState.from_dict(orjson.loads(value))
                for key, value in latest.items() if value is not None and key.startswith(prefix)}
    finally:
        await consumer.stop()


async def _partitions_of(settings: Settings, topic: str) -> list[int]:
    """The topic's partitions; none when it does not exist (no worker has run)."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return []
        [described] = await admin.describe_topics([topic])
        return sorted(p["partition"] for p in described["partitions"])
    finally:
        await admin.close()


async def write_states(settings: Settings, states: list[StudentState]) -> None:
    """Each state as the worker's engine writes it: one changelog record, in its partition."""
    outbound = Outbound(settings, students_changelog_topic(settings.worker_id))
    await outbound.start(CONNECT_SECONDS)
    try:
        await outbound.changelog([(state.partition, changelog_key(state.key),
                                   orjson.dumps(state.to_dict())) for state in states])
    finally:
        await outbound.stop()
