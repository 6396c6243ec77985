"""Creating the engine's topics before anything consumes or produces."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import INPUT_TOPICS, OUTPUT_TOPICS
from streams.settings import Settings

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing input and output topics; returns the names created."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in (*INPUT_TOPICS, *OUTPUT_TOPICS) if t not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(t, settings.topic_partitions, settings.topic_replication)
                    for t in missing
                ]
            )
            log.info("created topics %s", ", ".join(missing))
        return missing
    finally:
        await admin.close()
