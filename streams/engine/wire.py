"""The frames the worker's two processes exchange over one local socket.

A frame is a 4-byte big-endian length and a pickle of `(request_id, body)`, the body one of
the typed requests or answers below. Both ends
are the same program, started together and trusting each other; pickle is used because it
moves a batch's records (tuples of bytes and numbers) for a fraction of what any text codec
costs, and that hand-over is on the worker's hot path.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

from streams.access import Identity
from streams.engine.contract import ChangelogEntry, ConsumerView, SinkErrorNotice

HEADER = struct.Struct("!I")
# A frame larger than this is a defect (a batch of 10,000 records is a few MB).
MAX_FRAME_BYTES = 1 << 30


# -- requests, Faust side to engine side: each but `Restore` is answered -------------------------
@dataclass(frozen=True, slots=True)
class BatchRequest:
    records: list[tuple[Any, ...]]  # RawRecord fields: a plain tuple pickles faster
    view: ConsumerView


@dataclass(frozen=True, slots=True)
class TickRequest:
    view: ConsumerView


@dataclass(frozen=True, slots=True)
class RestoreRequest:
    """Changelog records recovery read, in order; answered by nothing."""

    entries: list[ChangelogEntry]


@dataclass(frozen=True, slots=True)
class KeepRequest:
    partitions: set[int]


@dataclass(frozen=True, slots=True)
class QueryRequest:
    name: str
    params: dict[str, Any]
    identity: Identity


@dataclass(frozen=True, slots=True)
class StopRequest:
    """Finish what was asked, close, exit."""


Request = BatchRequest | TickRequest | RestoreRequest | KeepRequest | QueryRequest | StopRequest


# -- answers and notices, engine side to Faust side -----------------------------------------------
@dataclass(frozen=True, slots=True)
class Ready:
    pid: int


@dataclass(frozen=True, slots=True)
class Answered:
    value: Any  # BatchReport for a batch or tick, int for keep, the result of a query


@dataclass(frozen=True, slots=True)
class Failed:
    kind: str  # the exception's class name, or REFUSED for a query that cannot be answered
    message: str
    trace: str


Answer = Ready | Answered | Failed | SinkErrorNotice
# The kinds a refused query (`streams.errors.QueryRefused`) and a forbidden one
# (`streams.errors.QueryForbidden`) fail with.
REFUSED = "refused"
FORBIDDEN = "forbidden"
# The request id of frames that answer no request (ready, notices, restore).
UNASKED = 0


class Frame(NamedTuple):
    request_id: int
    body: Request | Answer


def encode(request_id: int, body: Request | Answer) -> bytes:
    data = pickle.dumps((request_id, body), protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


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
        data = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise ConnectionError("the socket closed in the middle of a frame") from exc
    request_id, body = pickle.loads(data)
    return Frame(request_id, body)


class RemoteFailure(Exception):
    """What failed on the engine side, as it was reported there."""

    def __init__(self, kind: str, message: str, trace: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.trace = trace
