"""The frames the worker's two processes exchange over one local socket.

A frame is a 4-byte big-endian length and a pickle of `(kind, request_id, payload)`. Both ends
are the same program, started together and trusting each other; pickle is used because it
moves a batch's records (tuples of bytes and numbers) for a fraction of what any text codec
costs, and that hand-over is on the worker's hot path.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any, NamedTuple

HEADER = struct.Struct("!I")
# A frame larger than this is a defect (a batch of 10,000 records is a few MB).
MAX_FRAME_BYTES = 1 << 30

# Requests, Faust side to engine side. Every kind but RESTORE is answered with OK or FAILED.
BATCH = "batch"  # records and the consumer's view of the partitions: process and publish
TICK = "tick"  # the wall-clock housekeeping
RESTORE = "restore"  # changelog records the Faust side's recovery read (answered by nothing)
KEEP = "keep"  # recovery is done: keep only the students of these partitions
QUERY = "query"  # a read query for the web routes
STOP = "stop"  # finish what was asked, close, exit
# Answers and notices, engine side to Faust side.
READY = "ready"
OK = "ok"
FAILED = "failed"
NOTICE = "notice"  # a metric update that cannot wait for the answer (a write being retried)
# The failure a query asked in a way that cannot be answered reports itself as (an HTTP 400).
BAD_QUERY = "bad_query"


class Frame(NamedTuple):
    kind: str
    request_id: int
    payload: Any


def encode(kind: str, request_id: int, payload: Any) -> bytes:
    body = pickle.dumps((kind, request_id, payload), protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or None once the other end has closed the socket."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ConnectionError("the socket closed in the middle of a frame") from exc
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise ConnectionError(f"a frame of {size} bytes is larger than any the worker sends")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise ConnectionError("the socket closed in the middle of a frame") from exc
    kind, request_id, payload = pickle.loads(body)
    return Frame(kind, request_id, payload)


class EngineReport(NamedTuple):
    """The answer to a batch or a tick: what the Faust side shows on /metrics."""

    hook_calls: list[Any]  # streams.engine.contract.HookCall, replayed on the metric hooks
    students_in_state: int
    scores_published: int
    heap_trims: dict[str, int]  # by allocator: how often each handed freed memory back
    gc: Any  # streams.tuning.collector.CollectorTimes


class RemoteFailure(Exception):
    """What failed on the engine side, as it was reported there."""

    def __init__(self, kind: str, message: str, trace: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.trace = trace
