"""The worker's consumer lets the broker hold a fetch only as long as configured: with Faust's
fixed 1.5 s, clicks waited behind fetches that covered only idle partitions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from streams.settings import Settings
from streams.worker.app import StreamWorker


@pytest.mark.parametrize("configured", [50, 1500])
def test_the_workers_consumer_waits_at_most_the_configured_fetch_time(
        tmp_path: Path, configured: int) -> None:
    settings = Settings(kafka_fetch_max_wait_ms=configured, kafka_bootstrap="127.0.0.1:9",
                        clickhouse_url=f"chdb://{tmp_path / 'clickhouse'}",
                        data_dir=tmp_path / "worker")

    async def fetch_wait() -> int:
        worker = StreamWorker(settings)
        app = worker.app
        # The consumer the worker's consumer thread starts (nothing connects until then).
        consumer = cast(Any, app.consumer)._thread._create_worker_consumer(app.transport)
        try:
            # What aiokafka hands its fetcher when the consumer starts.
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(fetch_wait()) == configured
