"""The worker's consumer lets the broker hold a fetch only as long as configured: with Faust's
fixed 1.5 s, clicks waited behind fetches that covered only idle partitions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streams.kafka_transport import KafkaApp
from streams.settings import Settings


@pytest.mark.parametrize("configured", [50, 1500])
def test_the_consumer_started_waits_at_most_the_configured_fetch_time(
        tmp_path: Path, configured: int) -> None:
    settings = Settings(kafka_fetch_max_wait_ms=configured)

    async def fetch_wait() -> int:
        app = KafkaApp("fetch-wait", broker="kafka://127.0.0.1:9", store="memory://",
                       datadir=str(tmp_path), fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms)
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            # What aiokafka hands its fetcher when the consumer starts.
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(fetch_wait()) == configured

