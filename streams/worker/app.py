"""The Faust worker: one agent over every input topic, batched, handing each batch to the
worker's engine process; the students' state is a changelogged table that process holds."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry

from schemas.topics import INPUT_TOPICS
from streams.access import write_local_token
from streams.engine.contract import BatchReport, ConsumerView, RawRecord, SinkErrorNotice
from streams.engine.remote import RemoteEngine
from streams.engine.remote import engine_command as engine_command_of_this_program
from streams.metrics import WorkerMetrics
from streams.settings import Settings
from streams.tuning.collector import CollectorTimes
from streams.tuning.heap import HeapTrimmer, glibc_malloc_trim
from streams.web.gateway import Door
from streams.web.identity import Authenticator, Verifier
from streams.web.routes import register_routes
from streams.worker.kafka_app import KafkaApp
from streams.worker.metric_report import ReportedMetrics
from streams.worker.stall import StallWatch
from streams.worker.students_table import FORWARDING_STORE_URL, ForwardingStore

log = logging.getLogger(__name__)

# The engine process restores the students' state and opens ClickHouse before it answers.
ENGINE_READY_SECONDS = 300.0


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


@dataclass
class _Gathered:
    """Events taken and not yet handed to the engine: its raw records, and Faust's messages
    to acknowledge once it has answered."""

    records: list[RawRecord] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    since: float = 0.0


class StreamWorker:
    """The Faust side of `engage worker`: the app, its consumer and web routes, and the engine
    process that does the work, reached through its interface (`RemoteEngine`; see
    `streams.engine.server`). Each batch is handed
    over as raw records and acknowledged to Kafka once the engine has answered for it, which is
    after its rows, changelog records and messages are written: Faust takes the next batch
    meanwhile, so at most one batch is with the engine while the next is being taken."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None, *,
                 engine_command: Sequence[str] | None = None, loglevel: str = "warning"
                 ) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.metrics = WorkerMetrics(self.registry)
        self.reported = ReportedMetrics(self.metrics)
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
            # Faust's own pages of table keys and partition owners: not served (every route
            # has a policy, see streams.web.policy).
            web_router_enabled=False,
            web_tables_enabled=False,
            web_port=settings.web_port,
            web_bind=settings.web_host,
            web_application_options={"client_max_size": settings.gateway_max_bytes + 1024},
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=1.0,
            producer_linger_ms=5,
            # A crashed worker's partitions move on after seconds, not a minute.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
            stream_buffer_maxsize=stream_buffer_size(settings),
            table_standby_replicas=0,
            logging_config=None,
        )
        self.table = self.app.Table(
            "students",
            default=None,
            partitions=settings.topic_partitions,
            key_type=str,
            store=FORWARDING_STORE_URL,
        )
        self.engine = RemoteEngine(
            engine_command or engine_command_of_this_program(),
            changelog_topic=self.table.changelog_topic.get_topic_name(),
            loglevel=loglevel, ready_timeout=ENGINE_READY_SECONDS,
            on_notice=self._on_notice, on_gone=self._on_engine_gone,
        )
        store = cast(ForwardingStore, self.table.data)
        store.forward = self.engine.restore
        store.keep_only = self.engine.keep_partitions
        # For the command line on this machine (see `streams.access`); written at start.
        self._local_token = secrets.token_urlsafe(32)
        self.app.starting.append(self._write_local_token)
        self.app.starting.append(self.engine.start)
        self.app.stopped.append(self._stop_engine)
        self.app.on_partitions_revoked.connect(cast(Any, self._on_partitions_revoked))
        self.engine_gc: CollectorTimes | None = None
        self.stall = StallWatch(settings.stall_seconds)
        self.heap = HeapTrimmer(settings.heap_trim_seconds, glibc_malloc_trim())
        self._batch: asyncio.Future[None] | None = None
        self._gathered = _Gathered()
        self._taken_to: dict[TP, int] = {}
        self._handing_over = asyncio.Lock()
        self._hand_over_timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._tick: asyncio.Future[BatchReport] | None = None
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
        register_routes(
            self.app, health=self, registry=self.registry, metrics=self.metrics,
            door=Door(settings, self._send, self.wall_clock_ms,
                      # Read now: a token whose value cannot be read stops the start.
                      settings.gateway_tokens), engine=self.engine,
            who=Authenticator(Verifier(settings.tenants), self._local_token))

    @property
    def in_batch(self) -> bool:
        return self._batch is not None and not self._batch.done()

    def wall_clock_ms(self) -> int:
        return int(time.time() * 1000)

    async def _write_local_token(self) -> None:
        write_local_token(self.settings.data_dir, self._local_token)

    async def _send(self, topic: str, key: bytes, value: bytes) -> Any:
        """Produce one record for the gateways; the awaitable returned completes once the
        broker has it."""
        channel = self.app.topic(topic, key_serializer="raw", value_serializer="raw")
        return await channel.send(key=key, value=value)

    # -- batches -------------------------------------------------------------------------------
    async def _ingest(self, stream: Any) -> AsyncIterator[None]:
        try:
            async for events in stream.take_events(
                self.settings.batch_max_events, within=self.settings.batch_within_seconds
            ):
                await self._take(events)
                yield None
        except Exception as exc:
            # Faust would start the agent afresh, leaving what this one took unacknowledged:
            # no offset could be committed past it again until a restart.
            await self._fail("taking a batch failed", exc)
            raise

    async def _take(self, events: list[Any]) -> None:
        messages = [e.message for e in events]
        for message in messages:
            # Held until the engine has answered: `take_events` acks its batch as soon as the
            # next is asked for, and an acked offset may be committed.
            message.incref()
            self._taken_to[message.tp] = message.offset + 1
        gathered = self._gathered
        if not gathered.messages:
            gathered.since = time.monotonic()
        gathered.messages += messages
        gathered.records += [
            RawRecord(m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000))
            for m in messages]
        if len(gathered.messages) < self.settings.batch_max_events and self._catching_up():
            self._hand_over_later(gathered.since + self.settings.batch_catch_up_seconds)
        else:
            await self._hand_over_gathered()

    def _catching_up(self) -> bool:
        """More events wait on the broker, past those taken, than a batch holds: a batch the
        size of one quarter-second's take would then only spread the engine's per-student
        work (state saved, scores written) over fewer events."""
        consumer = self.app.consumer
        behind = 0
        for tp in consumer.assignment():
            taken_to = self._taken_to.get(tp)
            if taken_to is None:
                continue
            try:
                highwater = consumer.highwater(tp)
            except AssertionError:  # assigned to Faust, not yet (or no longer) to aiokafka
                continue
            if highwater is not None:
                behind += max(0, highwater - taken_to)
        return behind >= self.settings.batch_max_events

    def _hand_over_later(self, at: float) -> None:
        if self._hand_over_timer is None:
            loop = asyncio.get_running_loop()
            self._hand_over_timer = loop.call_at(
                loop.time() + max(0.0, at - time.monotonic()),
                lambda: self._keep(asyncio.ensure_future(self._hand_over_gathered())))

    def _keep(self, task: asyncio.Future[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _hand_over_gathered(self) -> None:
        """Hand what has been gathered to the engine once the previous batch is answered:
        one batch at a time, so its changelog records are sent in the order it was taken."""
        async with self._handing_over:
            if self._hand_over_timer is not None:
                self._hand_over_timer.cancel()
                self._hand_over_timer = None
            gathered, self._gathered = self._gathered, _Gathered()
            if not gathered.messages:
                return
            if self._batch is not None:
                await self._batch
            self.metrics.batch_events.observe(len(gathered.messages))
            self._batch = asyncio.ensure_future(
                self._hand_over(gathered.records, gathered.messages))

    async def _hand_over(self, records: list[RawRecord], messages: list[Any]) -> None:
        try:
            report = await self.engine.batch(records, self._consumer_view())
        except Exception as exc:
            await self._fail("a batch failed in the engine process", exc)
            return
        self._take_report(report)
        consumer = self.app.consumer
        for message in messages:
            message.ack(consumer)
        self.stall.batch_done()
        self._trim_heap()

    async def _housekeeping(self) -> None:
        if not self.is_ready():
            # The state may be being restored; the next tick comes soon enough.
            return
        self._tick = asyncio.ensure_future(self.engine.tick(self._consumer_view()))
        try:
            report = await self._tick
        except Exception as exc:
            await self._fail("housekeeping failed in the engine process", exc)
            return
        self._take_report(report)
        self._trim_heap()

    async def _on_partitions_revoked(self, sender: Any, *args: Any, signal: Any,
                                     **kwargs: Any) -> None:
        """Faust waits for unacknowledged batches itself; a tick holds no offsets, so it is
        waited for here: recovery must not read back the changelog while the tick is still
        writing it."""
        if self._tick is not None:
            await asyncio.gather(self._tick, return_exceptions=True)

    def _take_report(self, report: BatchReport) -> None:
        self.reported.apply(report)
        if report.gc is not None:
            self.engine_gc = report.gc

    def _trim_heap(self) -> None:
        """The batches' messages this process held (see `streams.tuning.heap`)."""
        if self.heap.after_batch():
            self.metrics.heap_trims.labels(process="faust", allocator="glibc").inc()

    def _on_notice(self, notice: SinkErrorNotice) -> None:
        self.reported.sink_error(notice)

    def _on_engine_gone(self, error: Exception) -> None:
        self._keep(asyncio.ensure_future(self._fail("the engine process went away", error)))

    async def _fail(self, what: str, error: Exception) -> None:
        """Stop the worker: nothing after the failed batch may be acknowledged, and a restart
        replays from the last committed offset."""
        log.critical("%s: %s; stopping the worker", what, error)
        await self.app.crash(error)

    async def _stop_engine(self) -> None:
        status = await self.engine.close()
        if status:
            log.warning("the engine process exited with status %s", status)

    # -- what the consumer knows ---------------------------------------------------------------
    def _consumer_view(self) -> ConsumerView:
        """Which partitions still hold messages the engine has not processed, and their high
        watermarks, measured afresh for every batch and tick (see `streams.engine.event_time`):
        after a restart or rebalance, a stale answer lets the partitions replayed first carry event
        time past days whose attendance marks are still to be replayed from another topic. None
        until the partitions are assigned and the state restored."""
        if not self.is_ready():
            return ConsumerView.unmeasured()
        consumer = self.app.consumer
        waiting: set[tuple[str, int]] = set()
        highwaters: dict[tuple[str, int], int | None] = {}
        for tp in consumer.assignment():
            if tp.topic not in INPUT_TOPICS:
                continue
            highwater = consumer.highwater(tp)
            highwaters[(tp.topic, tp.partition)] = (
                int(highwater) if highwater is not None else None)
            if highwater is None or highwater > self._committed(tp):
                # Not fetched yet, or holding messages not yet processed; the fetch position
                # will not do, as Faust reads thousands of records ahead into its buffers.
                waiting.add((tp.topic, tp.partition))
        return ConsumerView(frozenset(waiting), highwaters)

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
        waiting = self._consumer_view().waiting
        stalled = self.stall.check(
            time.monotonic(), ready=ready, in_batch=self.in_batch,
            waiting=ready and bool(waiting),
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

    def is_ready(self) -> bool:
        """Partitions assigned and the students' state restored from the changelog: until
        then the worker consumes nothing."""
        try:
            return (bool(self.app.consumer.assignment()) and not self.app.rebalancing
                    and not self.app.in_recovery)
        except Exception:
            return False
