"""The worker's engine process: the batch step, the students' state and the ClickHouse sink.

`engage worker` is two processes. The Faust process consumes, hands each batch of raw records
over a local socket (`streams.engine.wire`) and commits its offsets once this process has
answered; this process decodes, scores, writes ClickHouse, sends the students' changelog
records and the batch's messages, and answers. The interpreter lock bounds each process to one
core: split, Faust takes the next batch while the engine works on this one. The engine process
is started by the Faust process and ends with it: it ignores the terminal's and the
orchestrator's signals (the Faust process stops it once its last batch is answered) and the
kernel kills it should the Faust process die.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import traceback

from sinks.clickhouse import purge_allocator
from sinks.errors import ClickHouseFolderLocked, SinkUnavailable
from sinks.stored import StoredRecords
from sinks.writer import ClickHouseSink
from streams.engine.contract import BatchReport, RawRecord, SinkErrorNotice
from streams.engine.local import LocalEngine
from streams.engine.outbound import Outbound
from streams.engine.sink import open_sink
from streams.engine.students import ChangelogStates
from streams.engine.wire import (
    FORBIDDEN,
    REFUSED,
    UNASKED,
    Answer,
    Answered,
    BatchRequest,
    Failed,
    Frame,
    KeepRequest,
    QueryRequest,
    Ready,
    RestoreRequest,
    StopRequest,
    TickRequest,
    encode,
    read_frame,
)
from streams.errors import QueryForbidden, QueryRefused
from streams.settings import Settings
from streams.tuning.collector import GarbageCollectorTime, tune_garbage_collector
from streams.tuning.heap import HeapTrimmer, glibc_malloc_trim
from streams.views.named import NamedViews

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
# A restarted worker's engine may start while the previous one is still being killed, which
# holds the embedded ClickHouse folder for a moment longer.
LOCKED_RETRY_SECONDS = 15.0
KAFKA_START_SECONDS = 120.0


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when the Faust process dies, however it dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # it died before the request took effect
        os._exit(1)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


class EngineServer:
    """A `LocalEngine` on ClickHouse, the students' changelog and the output topics, answering
    the Faust process's requests."""

    def __init__(self, settings: Settings, changelog_topic: str,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.settings = settings
        self._reader = reader
        self._writer = writer
        self._loop = asyncio.get_running_loop()
        self.sink: ClickHouseSink = open_sink(settings, on_error=self._sink_error)
        self.outbound = Outbound(settings, changelog_topic)
        self.states = ChangelogStates(self.outbound.changelog)
        self.engine = LocalEngine(
            tenants=settings.tenants,
            sink=self.sink,
            stored=StoredRecords(self.sink),
            states=self.states,
            publisher=self.outbound,
            views=NamedViews(self.sink, settings),
            lateness_seconds=settings.lateness_seconds,
            max_future_hours=settings.max_future_hours,
            rollover_quiet_seconds=settings.rollover_quiet_seconds,
            rules_settle_seconds=settings.rules_settle_seconds,
            partition_idle_seconds=settings.partition_idle_seconds,
        )
        # Event time is unknown until the consumer's first measurement comes with a request.
        self.engine.progress.await_measurement()
        self.heap_trims: dict[str, int] = {}
        self.heap = HeapTrimmer(settings.heap_trim_seconds, glibc_malloc_trim())
        self.purges_allocator = settings.embedded_clickhouse
        self.gc_time: GarbageCollectorTime | None = None

    # -- starting and stopping ---------------------------------------------------------------
    async def start(self) -> bool:
        """Open ClickHouse and Kafka, then say ready; or say why not, and return False."""
        try:
            await self._connect_sink()
            await self.outbound.start(KAFKA_START_SECONDS)
        except Exception as exc:
            log.error("the engine process could not start: %s", exc)
            self._send(UNASKED, Failed(type(exc).__name__, str(exc), traceback.format_exc()))
            await self._writer.drain()
            return False
        tune_garbage_collector(self.settings.gc_young_threshold)
        self.gc_time = GarbageCollectorTime()
        self._send(UNASKED, Ready(os.getpid()))
        return True

    async def _connect_sink(self) -> None:
        deadline = self._loop.time() + LOCKED_RETRY_SECONDS
        while True:
            try:
                await self.sink.run(lambda client: None)
                return
            except ClickHouseFolderLocked:
                if self._loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)
            except SinkUnavailable as exc:
                # A server that is down now: the first write retries with backoff.
                log.warning("ClickHouse not reachable yet: %s", exc)
                return

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.outbound.stop()
        self.sink.close()

    # -- serving -------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Answer frames until told to stop or the Faust side goes away. Everything that
        touches the students' state runs in the order it was sent; queries run beside it."""
        ordered: asyncio.Queue[Frame] = asyncio.Queue()
        working = asyncio.ensure_future(self._work(ordered))
        queries: set[asyncio.Task[None]] = set()
        while not working.done():
            frame = await read_frame(self._reader)
            if frame is None or isinstance(frame.body, StopRequest):
                ordered.put_nowait(frame or Frame(UNASKED, StopRequest()))
                break
            if isinstance(frame.body, QueryRequest):
                task = asyncio.ensure_future(self._answer(frame))
                queries.add(task)
                task.add_done_callback(queries.discard)
            else:
                ordered.put_nowait(frame)
        await working
        if queries:
            await asyncio.gather(*queries, return_exceptions=True)

    async def _work(self, ordered: asyncio.Queue[Frame]) -> None:
        while True:
            frame = await ordered.get()
            if isinstance(frame.body, StopRequest):
                self._send(frame.request_id, Answered(None))
                return
            if isinstance(frame.body, RestoreRequest):
                self.engine.restore(frame.body.entries)
                continue
            await self._answer(frame)

    async def _answer(self, frame: Frame) -> None:
        try:
            result = await self._handle(frame.body)
        except QueryRefused as exc:
            self._send(frame.request_id, Failed(REFUSED, str(exc), ""))
            return
        except QueryForbidden as exc:
            self._send(frame.request_id, Failed(FORBIDDEN, str(exc), ""))
            return
        except Exception as exc:
            log.exception("request %d (%s) failed", frame.request_id, type(frame.body).__name__)
            self._send(frame.request_id,
                       Failed(type(exc).__name__, str(exc), traceback.format_exc()))
            return
        self._send(frame.request_id, Answered(result))
        await self._writer.drain()

    async def _handle(self, request: object) -> object:
        match request:
            case BatchRequest(records, view):
                return await self._tuned(
                    await self.engine.batch(list(map(RawRecord._make, records)), view))
            case TickRequest(view):
                return await self._tuned(await self.engine.tick(view))
            case KeepRequest(partitions):
                return await self.engine.keep_partitions(partitions)
            case QueryRequest(name, params, identity):
                return await self.engine.query(name, params, identity)
        raise TypeError(f"not a request the engine answers: {request!r}")

    async def _tuned(self, report: BatchReport) -> BatchReport:
        """The report, with this process's heap trims and collector times."""
        if self.heap.after_batch():
            self._count_trim("glibc")
            if self.purges_allocator and await self._purge_allocator():
                self._count_trim("clickhouse")
        report.heap_trims, self.heap_trims = self.heap_trims, {}
        assert self.gc_time is not None
        report.gc = self.gc_time.snapshot()
        return report

    # -- helpers -------------------------------------------------------------------------------
    async def _purge_allocator(self) -> bool:
        try:
            await self.sink.run(purge_allocator)
        except Exception as exc:  # an engine built without jemalloc: the batch is written
            log.warning("the embedded ClickHouse engine cannot purge its allocator (%s); "
                        "not asking again", exc)
            self.purges_allocator = False
            return False
        return True

    def _count_trim(self, allocator: str) -> None:
        self.heap_trims[allocator] = self.heap_trims.get(allocator, 0) + 1

    def _sink_error(self, table: str, kind: str) -> None:
        # Called on the ClickHouse thread, while a batch may wait on retries for long: shown
        # on /metrics now, not with the batch's answer.
        self._loop.call_soon_threadsafe(self._send, UNASKED, SinkErrorNotice(table, kind))

    def _send(self, request_id: int, answer: Answer) -> None:
        if not self._writer.is_closing():
            self._writer.write(encode(request_id, answer))


async def serve_engine(settings: Settings, channel_fd: int, changelog_topic: str) -> int:
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=channel_fd))
    server = EngineServer(settings, changelog_topic, reader, writer)
    try:
        if not await server.start():
            return 2
        await server.serve()
        return 0
    finally:
        await server.close()
        writer.close()
