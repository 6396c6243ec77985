"""Faust's app and Kafka transport with two per-worker costs taken out of the hot path.

The fetch wait. Faust builds its consumer with `fetch_max_wait_ms=1500` and offers no setting
for it. A worker reads many partitions that are idle most of the time (consent, roster,
decisions, registers), and aiokafka keeps one fetch in flight per broker: a fetch that happens
to cover only idle partitions is held at the broker for the whole wait, and clicks arriving
meanwhile wait with it. At 2,000 clicks a second that alone put the 95th percentile from event
to ClickHouse above 3 seconds.

The Monitor sensor. Faust keeps statistics on every message and event for its own `/stats`
pages, which the engine does not serve (it has its Prometheus metrics): about a tenth of the
framework's own time per event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

DEFAULT_FETCH_MAX_WAIT_MS = 100


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by aiokafka when the consumer starts, which is after this returns.
        consumer._fetch_max_wait_ms = cast(KafkaApp, self.app).fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class KafkaApp(faust.App):
    """A Faust app whose consumer lets the broker hold a fetch at most `fetch_max_wait_ms`,
    without Faust's Monitor sensor. `starting` run before the consumer starts (and so before
    any table is recovered); `stopped` once it has stopped, every batch acknowledged."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int = DEFAULT_FETCH_MAX_WAIT_MS,
                 **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.starting: list[Callable[[], Awaitable[Any]]] = []
        self.stopped: list[Callable[[], Awaitable[Any]]] = []
        super().__init__(*args, **kwargs)

    async def on_start(self) -> None:
        await super().on_start()
        for hook in self.starting:
            await hook()

    async def on_stop(self) -> None:
        await super().on_stop()
        for hook in self.stopped:
            await hook()

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)

    def on_init_dependencies(self) -> Any:
        dependencies = super().on_init_dependencies()  # which adds the Monitor to the sensors
        self.sensors.remove(self.monitor)
        return dependencies
