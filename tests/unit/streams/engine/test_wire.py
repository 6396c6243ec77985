"""The frames between the worker's Faust and engine processes, and the command that starts the
engine process as the worker itself was started."""

from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace

import pytest

from streams.engine import remote as engine_link
from streams.engine.contract import ConsumerView, RawRecord
from streams.engine.wire import (
    HEADER,
    BatchRequest,
    Frame,
    RestoreRequest,
    TickRequest,
    encode,
    read_frame,
)


def read_all(data: bytes, *, eof: bool = True) -> list[Frame | None]:
    async def frames() -> list[Frame | None]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        if eof:
            reader.feed_eof()
        found: list[Frame | None] = []
        while (frame := await read_frame(reader)) is not None:
            found.append(frame)
        found.append(None)
        return found

    return asyncio.run(frames())


def test_frames_arrive_whole_and_in_order_then_none_at_the_end() -> None:
    records = [RawRecord("engage.vle.clicks", 3, 17, b"uni:s1", b'{"type":"vle.click"}',
                         1_795_600_000_000),
               RawRecord("engage.roster", 0, 2, None, None, None)]
    view = ConsumerView(frozenset({("engage.vle.clicks", 3)}), {("engage.vle.clicks", 3): 40})
    batch = BatchRequest(list(records), view)
    data = (encode(1, batch) + encode(2, TickRequest(ConsumerView.unmeasured()))
            + encode(0, RestoreRequest([("uni:s1", 3, None)])))
    assert read_all(data) == [
        Frame(1, batch), Frame(2, TickRequest(ConsumerView(waiting=None))),
        Frame(0, RestoreRequest([("uni:s1", 3, None)])), None,
    ]


def test_a_socket_closed_in_the_middle_of_a_frame_is_an_error_not_an_end() -> None:
    whole = encode(1, RestoreRequest([("x" * 100, 0, None)]))
    with pytest.raises(ConnectionError, match="middle of a frame"):
        read_all(whole[:-10])
    with pytest.raises(ConnectionError, match="middle of a frame"):
        read_all(whole[: HEADER.size - 1])


def test_a_length_no_worker_sends_is_refused_before_reading_it() -> None:
    with pytest.raises(ConnectionError, match="larger than any"):
        read_all(HEADER.pack(2**31) + b"...", eof=False)


def test_the_engine_is_started_the_way_the_worker_was(monkeypatch: pytest.MonkeyPatch) -> None:
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "__spec__", SimpleNamespace(name="streams.cli"), raising=False)
    assert engine_link.engine_command() == [sys.executable, "-m", "streams.cli", "engine"]
    # A launcher of the same commands (as the tests' flaky-ClickHouse worker is) starts its
    # engine through itself too.
    monkeypatch.setattr(main, "__spec__",
                        SimpleNamespace(name="tests.support.flaky_clickhouse_worker"))
    assert engine_link.engine_command()[2] == "tests.support.flaky_clickhouse_worker"
    # The `engage` script.
    monkeypatch.setattr(main, "__spec__", None)
    monkeypatch.setattr(sys, "argv", ["/opt/engage/bin/engage", "worker"])
    assert engine_link.engine_command() == [sys.executable, "/opt/engage/bin/engage", "engine"]
