"""The engine over the socket: the Faust process's end of the channel to the worker's engine
process (see `streams.engine.server`), which starts it and implements
`streams.engine.contract.Engine` by asking it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from streams.access import Identity
from streams.engine.contract import (
    ALL_READ,
    BatchReport,
    ChangelogEntry,
    ConsumerView,
    RawRecord,
    SinkErrorNotice,
)
from streams.engine.wire import (
    FORBIDDEN,
    REFUSED,
    UNASKED,
    Answered,
    BatchRequest,
    Failed,
    KeepRequest,
    QueryRequest,
    Ready,
    RemoteFailure,
    Request,
    RestoreRequest,
    StopRequest,
    TickRequest,
    encode,
    read_frame,
)
from streams.errors import EngineProcessGone, QueryForbidden, QueryRefused

log = logging.getLogger(__name__)

STOP_SECONDS = 60.0


def engine_command() -> list[str]:
    """This program, as it was started, with the engine's sub-command: `python -m streams.cli`
    or the `engage` script (or a launcher of the same commands)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is not None and spec.name:
        return [sys.executable, "-m", spec.name.removesuffix(".__main__"), "engine"]
    return [sys.executable, sys.argv[0], "engine"]


class RemoteEngine:
    """`on_notice(notice)` hears what the engine reports between answers; `on_gone(error)`,
    that it went away while the worker was running."""

    def __init__(self, command: Sequence[str], *, changelog_topic: str, loglevel: str,
                 ready_timeout: float, on_notice: Callable[[SinkErrorNotice], None],
                 on_gone: Callable[[EngineProcessGone], None]) -> None:
        self._command = list(command)
        self._changelog_topic = changelog_topic
        self._loglevel = loglevel
        self._ready_timeout = ready_timeout
        self._on_notice = on_notice
        self._on_gone = on_gone
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Future[None] | None = None
        self._answers: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._stopping = False
        self.engine_pid: int | None = None

    # -- starting and stopping ---------------------------------------------------------------
    async def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            self._process = await asyncio.create_subprocess_exec(
                *self._command, "--channel-fd", str(theirs.fileno()), "--parent-pid",
                str(os.getpid()), "--changelog-topic", self._changelog_topic,
                "--loglevel", self._loglevel,
                pass_fds=[theirs.fileno()],
            )
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        ready = self._expect(UNASKED)
        self._reading = asyncio.ensure_future(self._read(reader))
        try:
            self.engine_pid = await asyncio.wait_for(ready, self._ready_timeout)
        except TimeoutError:
            self._process.kill()
            raise EngineProcessGone(
                f"the engine process was not ready within {self._ready_timeout:.0f}s") from None
        except RemoteFailure as failure:
            raise EngineProcessGone(f"the engine process could not start: {failure}") from None

    async def close(self) -> int | None:
        """Let the engine finish what it was asked, then stop it; returns its exit status."""
        process = self._process
        if process is None:
            return None
        self._stopping = True
        if (process.returncode is None and self._writer is not None
                and not self._writer.is_closing()):
            with contextlib.suppress(ConnectionError, RemoteFailure, EngineProcessGone,
                                     TimeoutError):
                await asyncio.wait_for(await self.request(StopRequest()), STOP_SECONDS)
        try:
            status = await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            log.error("the engine process did not stop within %.0fs; killing it", STOP_SECONDS)
            process.kill()
            status = await process.wait()
        if self._writer is not None:
            self._writer.close()
        if self._reading is not None:
            await asyncio.gather(self._reading, return_exceptions=True)
        return status

    # -- the interface (streams.engine.contract.Engine) ---------------------------------------
    async def batch(self, records: Sequence[RawRecord], view: ConsumerView = ALL_READ
                    ) -> BatchReport:
        report: BatchReport = await self.call(BatchRequest(list(records), view))
        return report

    async def tick(self, view: ConsumerView = ALL_READ) -> BatchReport:
        report: BatchReport = await self.call(TickRequest(view))
        return report

    def restore(self, entries: list[ChangelogEntry]) -> None:
        """Queued without waiting: Faust's recovery calls this where it cannot await."""
        self._write(UNASKED, RestoreRequest(entries))

    async def keep_partitions(self, partitions: set[int]) -> int:
        kept: int = await self.call(KeepRequest(partitions))
        return kept

    async def query(self, name: str, params: dict[str, Any], identity: Identity) -> Any:
        try:
            return await self.call(QueryRequest(name, params, identity))
        except RemoteFailure as failure:
            if failure.kind == REFUSED:
                raise QueryRefused(failure.message) from None
            if failure.kind == FORBIDDEN:
                raise QueryForbidden(failure.message) from None
            raise

    # -- requests ------------------------------------------------------------------------------
    async def request(self, request: Request) -> asyncio.Future[Any]:
        """Send a request now; the future holds its answer (or the engine's failure)."""
        self._next_id += 1
        answer = self._expect(self._next_id)
        self._write(self._next_id, request)
        assert self._writer is not None
        await self._writer.drain()
        return answer

    async def call(self, request: Request) -> Any:
        return await (await self.request(request))

    def _expect(self, request_id: int) -> asyncio.Future[Any]:
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._answers[request_id] = answer
        return answer

    def _write(self, request_id: int, request: Request) -> None:
        if self._writer is None or self._writer.is_closing():
            raise EngineProcessGone("the engine process is not running")
        self._writer.write(encode(request_id, request))

    # -- answers -------------------------------------------------------------------------------
    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while (frame := await read_frame(reader)) is not None:
                body = frame.body
                if isinstance(body, SinkErrorNotice):
                    self._on_notice(body)
                    continue
                answer = self._answers.pop(frame.request_id, None)
                if answer is None or answer.done():
                    continue
                if isinstance(body, Ready):
                    answer.set_result(body.pid)
                elif isinstance(body, Answered):
                    answer.set_result(body.value)
                elif isinstance(body, Failed):
                    answer.set_exception(RemoteFailure(body.kind, body.message, body.trace))
        except ConnectionError as exc:
            log.error("the channel to the engine process broke: %s", exc)
        self._gone()

    def _gone(self) -> None:
        status = self._process.returncode if self._process is not None else None
        error = EngineProcessGone(
            "the engine process exited" + (f" with status {status}" if status is not None
                                           else ""))
        answers, self._answers = self._answers, {}
        for answer in answers.values():
            if not answer.done():
                answer.set_exception(error)
        if not self._stopping:
            self._on_gone(error)
