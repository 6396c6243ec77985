"""Where student state lives: a Faust table in the worker, a dict in backfill and tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Protocol

import orjson

from scoring.student import StudentState


class StateStore(Protocol):
    def get(self, key: str) -> StudentState | None: ...

    def put(self, state: StudentState) -> None: ...

    def states(self) -> Iterator[StudentState]: ...

    def restore(self, key: str, state: StudentState | None) -> None:
        """Put back what was held before a failed batch (None: nothing), writing nothing: the
        durable copy never saw the failed batch's changes."""

    def __len__(self) -> int: ...

    async def flush(self) -> None:
        """Return once every `put` so far is durable."""


class MemoryStates:
    def __init__(self) -> None:
        self._states: dict[str, StudentState] = {}

    def get(self, key: str) -> StudentState | None:
        return self._states.get(key)

    def put(self, state: StudentState) -> None:
        self._states[state.key] = state

    def states(self) -> Iterator[StudentState]:
        return iter(list(self._states.values()))

    def restore(self, key: str, state: StudentState | None) -> None:
        if state is None:
            self._states.pop(key, None)
        else:
            self._states[key] = state

    def __len__(self) -> int:
        return len(self._states)

    async def flush(self) -> None:
        return None


class TableStates:
    """A Faust table holding live `StudentState` objects in memory.

    Every `put` sends one changelog record for that student, in the student's own partition,
    so a restarted or rebalanced worker restores exactly what was last written. Values
    recovered from the changelog arrive as plain dicts and become objects on first use.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self._in_flight: list[Any] = []

    def get(self, key: str) -> StudentState | None:
        data = self._table.data
        value = data.get(key)
        if value is None or isinstance(value, StudentState):
            return value
        state = StudentState.from_dict(value)
        data[key] = state
        return state

    def put(self, state: StudentState) -> None:
        self._table.data[state.key] = state
        # Encoded now, as the table's JSON codec would encode it when the producer gets to it:
        # a day's rollover puts every student at once, and until then a dict per student
        # waits in the producer's buffer, several times the size of its bytes.
        self._in_flight.append(self._table.send_changelog(
            state.partition, state.key, orjson.dumps(state.to_dict()), value_serializer="raw"
        ))

    def restore(self, key: str, state: StudentState | None) -> None:
        if state is None:
            self._table.data.pop(key, None)
        else:
            self._table.data[key] = state

    def states(self) -> Iterator[StudentState]:
        for key in list(self._table.data.keys()):
            state = self.get(key)
            if state is not None:
                yield state

    def __len__(self) -> int:
        return len(self._table.data)

    async def flush(self) -> None:
        """Wait until the broker has every changelog record sent so far. Faust's own flush
        before a commit gives up after a short wait, so offsets could otherwise be committed
        past state that never reached the changelog."""
        in_flight, self._in_flight = self._in_flight, []
        if in_flight:
            await asyncio.gather(*in_flight)
