"""What the engine process sends to Kafka: the batch's messages and the students' changelog
records, each call returning once the broker has acknowledged all of them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from streams.engine.contract import OutboundMessage
from streams.engine.students import ChangelogRecord
from streams.settings import Settings

log = logging.getLogger(__name__)

# A send that finds room in the producer's buffer never yields, and heartbeats must go out;
# waiting for every slice also bounds what is in flight (a rollover sends every student).
SEND_SLICE = 5000
START_RETRY_SECONDS = 2.0


class Outbound:
    def __init__(self, settings: Settings, changelog_topic: str) -> None:
        self.changelog_topic = changelog_topic
        # As the worker's Faust producer was set: acknowledged by every in-sync replica, and
        # one batch's records leaving in a few requests, not one each.
        self._producer = AIOKafkaProducer(
            **settings.kafka_client_options(), client_id=f"{settings.worker_id}-engine",
            acks="all", linger_ms=5,
        )

    async def start(self, give_up_after: float) -> None:
        """Connect, waiting for a broker that is not up yet as the Faust side does."""
        deadline = asyncio.get_running_loop().time() + give_up_after
        while True:
            try:
                await self._producer.start()
                return
            except KafkaConnectionError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                log.warning("Kafka not reachable yet (%s); retrying", exc)
                await asyncio.sleep(START_RETRY_SECONDS)

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        # Generators, not lists: a rollover's 100,000 messages are not copied once more.
        await self._send((m.topic, None, m.key, m.value) for m in messages)

    async def changelog(self, records: Sequence[ChangelogRecord]) -> None:
        topic = self.changelog_topic
        await self._send((topic, partition, key, value) for partition, key, value in records)

    async def _send(self, items: Iterable[tuple[str, int | None, bytes | None, bytes]]) -> None:
        producer = self._producer
        deliveries = []
        for n, (topic, partition, key, value) in enumerate(items, start=1):
            deliveries.append(await producer.send(topic, value=value, key=key,
                                                  partition=partition))
            if n % SEND_SLICE == 0:
                await asyncio.gather(*deliveries)
                deliveries.clear()
        if deliveries:
            await asyncio.gather(*deliveries)
