"""The Faust worker: one agent over every input topic, batched; state in a changelogged table."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry

from schemas.topics import INPUT_TOPICS, SCORES
from sinks.clickhouse import RetentionDays, apply_retention, connect, migrate
from sinks.writer import ClickHouseSink
from streams.heap import HeapTrimmer, glibc_malloc_trim
from streams.hooks import MetricHooks
from streams.kafka_transport import KafkaApp
from streams.metrics import EngineMetrics
from streams.processor import OutboundMessage, Processor, RawRecord
from streams.settings import Settings
from streams.stall import StallWatch
from streams.state_store import TableStates
from streams.web import register_routes

log = logging.getLogger(__name__)

PUBLISH_SLICE = 5000


def open_sink(settings: Settings, metrics: EngineMetrics | None = None) -> ClickHouseSink:
    def _connect() -> Any:
        client = connect(
            settings.clickhouse_url,
            settings.clickhouse_database,
            user=settings.clickhouse_user,
            password=(settings.clickhouse_password.get_secret_value()
                      if settings.clickhouse_password else None),
        )
        migrate(client)
        apply_retention(client, retention_of(settings))
        return client

    def _on_error(table: str, kind: str) -> None:
        if metrics is not None:
            metrics.sink_errors.labels(table=table, kind=kind).inc()

    return ClickHouseSink(_connect, retry_max_seconds=settings.sink_retry_max_seconds,
                          on_error=_on_error)


def retention_of(settings: Settings) -> RetentionDays:
    return RetentionDays(
        activity=settings.retention_days_activity,
        measures=settings.retention_days_measures,
        dead_letters=settings.retention_days_dead_letters,
        attendance=settings.retention_days_attendance,
        review=settings.retention_days_review,
    )


def stream_buffer_size(settings: Settings) -> int:
    """Events Faust may hold for the agent: room for the next batch while one is processed."""
    return max(4096, settings.batch_max_events * 2)


def faust_credentials(settings: Settings) -> Any:
    options = settings.kafka_client_options()
    ssl_context = options.get("ssl_context")
    if settings.kafka_sasl_mechanism is not None:
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=(settings.kafka_sasl_password.get_secret_value()
                      if settings.kafka_sasl_password else None),
            ssl_context=ssl_context,
            mechanism=settings.kafka_sasl_mechanism.value,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None


class FaustWorker(faust.Worker):
    """Faust's worker with the root logger at the level asked for. Left alone, the root logger
    stays at DEBUG and only the handler filters, so every debug call in Faust and aiokafka
    (one per message sent) builds a log record that is then thrown away."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        logger.setLevel(level)


class EngineWorker:
    """Builds the Faust app and wires the processor, sink, metrics and web routes to it."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.metrics = EngineMetrics(self.registry)
        self.app = KafkaApp(
            settings.worker_id,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            broker=[f"kafka://{h.strip()}" for h in settings.kafka_bootstrap.split(",")],
            broker_credentials=faust_credentials(settings),
            store="memory://",
            datadir=str(settings.data_dir),
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            topic_disable_leader=True,
            web_enabled=True,
            web_port=settings.web_port,
            web_bind=settings.web_host,
            web_application_options={"client_max_size": settings.gateway_max_bytes + 1024},
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=1.0,
            # Output and changelog records of one batch leave in a few requests, not one each.
            producer_linger_ms=5,
            # A crashed worker's partitions move on after seconds, not a minute.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
            stream_buffer_maxsize=stream_buffer_size(settings),
            table_standby_replicas=0,
            logging_config=None,
        )
        self.sink = open_sink(settings, self.metrics)
        self.table = self.app.Table(
            "students",
            default=None,
            partitions=settings.topic_partitions,
            key_type=str,
        )
        self.states = TableStates(self.table)
        self.processor = Processor(
            tenants=settings.tenants,
            sink=self.sink,
            states=self.states,
            lateness_seconds=settings.lateness_seconds,
            max_future_hours=settings.max_future_hours,
            hooks=MetricHooks(self.metrics),
            rollover_quiet_seconds=settings.rollover_quiet_seconds,
            rules_settle_seconds=settings.rules_settle_seconds,
            highwater=self._highwater,
            partition_idle_seconds=settings.partition_idle_seconds,
        )
        self.processor.progress.await_measurement()
        self.stall = StallWatch(settings.stall_seconds)
        self.heap = HeapTrimmer(settings.heap_trim_seconds, glibc_malloc_trim(),
                                on_trim=self.metrics.heap_trims.inc)
        self.in_batch = False
        self.stalled = False
        self.input_topic = self.app.topic(
            *INPUT_TOPICS,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.topic_partitions,
        )
        self.app.agent(self.input_topic, name="ingest")(self._ingest)
        self.app.timer(settings.quiet_check_seconds)(self._housekeeping)
        self.app.timer(5.0)(self._measure_lag)
        register_routes(self)

    async def _ingest(self, stream: Any) -> AsyncIterator[None]:
        async for events in stream.take_events(
            self.settings.batch_max_events, within=self.settings.batch_within_seconds
        ):
            records = [
                RawRecord(m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000))
                for m in (e.message for e in events)
            ]
            self.in_batch = True
            try:
                self._note_waiting()
                outcome = await self.processor.process_isolating(records)
                await self.publish(outcome.messages)
            finally:
                self.in_batch = False
            self.stall.batch_done()
            self.metrics.students_in_state.set(len(self.states))
            self.heap.after_batch()
            yield None

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        """Send and wait for the broker's acknowledgement, before the batch is acked. The
        messages are bytes already: they go to the producer directly, not through Faust's
        per-message topic machinery."""
        producer = self.app.producer
        deliveries = []
        for n, m in enumerate(messages, start=1):
            deliveries.append(await producer.send(m.topic, m.key, m.value, partition=None,
                                                  timestamp=None, headers=None))
            if n % PUBLISH_SLICE == 0:
                # A send that finds room never yields, and heartbeats must go out; waiting for
                # the slice bounds the messages in flight (a rollover publishes every student).
                await asyncio.gather(*deliveries)
                deliveries.clear()
        if deliveries:
            await asyncio.gather(*deliveries)
        self.metrics.scores_published.inc(sum(m.topic == SCORES for m in messages))

    async def _housekeeping(self) -> None:
        self._note_waiting()
        outcome = await self.processor.tick()
        await self.publish(outcome.messages)
        # A quiet stream's day rollover carries every student forward in one go.
        self.heap.after_batch()

    def _note_waiting(self) -> None:
        """Tell the processor which partitions still hold messages it has not processed, just
        before it may judge a day (see `streams.watermarks`). Measured afresh every time: after
        a restart or rebalance, a stale answer lets the partitions replayed first carry event
        time past days whose attendance marks are still to be replayed from another topic."""
        if self.is_ready():
            self.processor.progress.note_waiting(self._partitions_waiting())
        else:
            self.processor.progress.await_measurement()

    def _partitions_waiting(self) -> set[tuple[str, int]]:
        consumer = self.app.consumer
        waiting: set[tuple[str, int]] = set()
        for tp in consumer.assignment():
            if tp.topic not in INPUT_TOPICS:
                continue
            highwater = consumer.highwater(tp)
            if highwater is None or highwater > self._committed(tp):
                # Not fetched yet, or holding messages not yet processed; the fetch position
                # will not do, as Faust reads thousands of records ahead into its buffers.
                waiting.add((tp.topic, tp.partition))
        return waiting

    async def _measure_lag(self) -> None:
        """The consumer lag gauge per input partition, and whether the worker is stalled."""
        self._watch_for_stall()
        consumer = self.app.consumer
        for tp in consumer.assignment():
            if tp.topic not in INPUT_TOPICS:
                continue
            position = await consumer.position(tp)
            highwater = consumer.highwater(tp)
            if position is not None and highwater is not None:
                self.metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)
                                                 ).set(max(0, highwater - position))

    def _watch_for_stall(self) -> None:
        ready = self.is_ready()
        stalled = self.stall.check(
            time.monotonic(), ready=ready, in_batch=self.in_batch,
            waiting=ready and bool(self._partitions_waiting()),
        )
        if stalled and not self.stalled:
            log.error("stalled: partitions hold unprocessed messages but no batch has been "
                      "taken for %.0fs; /healthz now fails so that the worker is restarted",
                      self.settings.stall_seconds)
        self.stalled = stalled
        self.metrics.consumer_stalled.set(int(stalled))

    def _committed(self, tp: TP) -> int:
        """The group's committed offset as the consumer last knew it (0 when none). Faust
        keeps it, without a public accessor, for its own commits."""
        committed = getattr(self.app.consumer, "_committed_offset", {}).get(tp)
        return int(committed) if committed else 0

    def _highwater(self, topic: str, partition: int) -> int | None:
        try:
            value = self.app.consumer.highwater(TP(topic, partition))
        except Exception:
            return None
        return int(value) if value is not None else None

    def is_ready(self) -> bool:
        """Partitions assigned and the students' state restored from the changelog: until
        then the worker consumes nothing."""
        try:
            return (bool(self.app.consumer.assignment()) and not self.app.rebalancing
                    and not self.app.in_recovery)
        except Exception:
            return False
