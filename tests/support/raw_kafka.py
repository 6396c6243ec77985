"""Raw Kafka access for tests that need more than `engage produce` allows: bytes the product
would refuse to send, messages placed on a chosen partition, a topic read to its end, and a
consumer group's committed offsets partition by partition."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

Location = tuple[str, int, int]  # topic, partition, offset


@dataclass(frozen=True)
class RawMessage:
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone
    # None leaves the choice to the producer's partitioner, as `engage produce` does.
    partition: int | None = None


def partition_for(key: bytes, partitions: int) -> int:
    """The partition the default partitioner (the one `engage produce` uses) picks for `key`."""
    return int(DefaultPartitioner()(key, list(range(partitions)), []))


async def partition_counts(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    return dict(Counter(tp.topic for tp in await partitions_of(bootstrap, topics)))


async def produce_raw(bootstrap: str, messages: Iterable[RawMessage]) -> list[Location]:
    """Send `messages` in order, with the producer settings of `engage produce`; returns where
    each one landed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=256 * 1024, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        deliveries = [
            await producer.send(m.topic, value=m.value, key=m.key, partition=m.partition)
            for m in messages
        ]
        await producer.flush()
        landed = [await delivery for delivery in deliveries]
    finally:
        await producer.stop()
    return [(m.topic, m.partition, m.offset) for m in landed]


async def partitions_of(bootstrap: str, topics: Iterable[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described
                  for p in d["partitions"]]
    assert partitions, f"no partitions found for {topics}"
    return sorted(partitions)


async def read_to_end(bootstrap: str, topic: str
                      ) -> list[tuple[Location, bytes | None, bytes | None]]:
    """Every message on `topic` up to its end offsets now: location, key and value."""
    partitions = await partitions_of(bootstrap, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[Location, bytes | None, bytes | None]] = []
        async with asyncio.timeout(60):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batches = await consumer.getmany(timeout_ms=1000)
                found += [((m.topic, m.partition, m.offset), m.key, m.value)
                          for messages in batches.values() for m in messages]
        return found
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class GroupPositions:
    """A consumer group's committed offset (0 when none) and the end offset of each partition."""

    committed: dict[tuple[str, int], int]
    ends: dict[tuple[str, int], int]

    @property
    def lag(self) -> int:
        return sum(end - self.committed[tp] for tp, end in self.ends.items())


async def group_positions(bootstrap: str, group: str, topics: Iterable[str]) -> GroupPositions:
    partitions = await partitions_of(bootstrap, topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()
    offsets = {}
    for tp in partitions:
        meta = committed.get(tp)
        offsets[(tp.topic, tp.partition)] = meta.offset if meta and meta.offset >= 0 else 0
    return GroupPositions(offsets, {(tp.topic, tp.partition): end for tp, end in ends.items()})
