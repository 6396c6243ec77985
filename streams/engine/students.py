"""Where student state lives: in the worker's engine process, backed by the Faust table's
changelog; a plain dict in backfill and tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
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

    def apply_restored(self, records: list[tuple[str, int, bytes | None]]) -> None:
        """Take in changelog records as recovery read them (the last for a key wins; a
        record without a value forgets the student)."""

    def keep_partitions(self, partitions: set[int]) -> int:
        """Forget the students of every other partition; returns how many were forgotten."""
        ...

    def put_progress(self, partition: int, snapshot: dict[str, Any]) -> None:
        """Keep the engine's progress as of this batch for one partition, with its students
        (written with the next `flush`)."""

    def progress(self) -> dict[int, dict[str, Any]]:
        """The progress kept for each partition held (as restored, or last put)."""
        ...


class MemoryStates:
    def __init__(self) -> None:
        self._states: dict[str, StudentState] = {}
        self._progress: dict[int, dict[str, Any]] = {}

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

    def apply_restored(self, records: list[tuple[str, int, bytes | None]]) -> None:
        for key, partition, value in records:
            if key.startswith(PROGRESS_PREFIX):
                if value is not None:
                    self._progress[partition] = orjson.loads(value)
            elif value is None:
                self._states.pop(key, None)
            else:
                self._states[key] = StudentState.from_dict(orjson.loads(value))

    def keep_partitions(self, partitions: set[int]) -> int:
        gone = [k for k, s in self._states.items() if s.partition not in partitions]
        for key in gone:
            del self._states[key]
        self._progress = {p: v for p, v in self._progress.items() if p in partitions}
        return len(gone)

    def put_progress(self, partition: int, snapshot: dict[str, Any]) -> None:
        self._progress[partition] = snapshot

    def progress(self) -> dict[int, dict[str, Any]]:
        return dict(self._progress)


ChangelogRecord = tuple[int | None, bytes, bytes]  # partition, key, value as the table reads them
SendChangelog = Callable[[list[ChangelogRecord]], Awaitable[None]]


# The key of each partition's engine progress record in the changelog: no student's key (a
# tenant name starts with a letter or digit) can take it.
PROGRESS_KEY = "~engine-progress:{partition}"
PROGRESS_PREFIX = "~engine-progress:"


def changelog_key(key: str) -> bytes:
    """A student's key as the Faust table's JSON key codec writes and reads it."""
    return orjson.dumps(key)


class ChangelogStates:
    """The students' state in the engine process, backed by the Faust table's changelog topic.

    Every `put` queues one changelog record for that student, in the student's own partition;
    `flush` sends what is queued and returns once the broker has it, so a restarted or
    rebalanced worker restores exactly what was last written. What the Faust side's recovery
    reads back arrives as bytes (`apply_restored`) and becomes an object on first use.
    """

    def __init__(self, send: SendChangelog) -> None:
        self._send = send
        self._states: dict[str, StudentState] = {}
        self._restored: dict[str, tuple[int, bytes]] = {}
        self._queued: list[ChangelogRecord] = []
        self._progress: dict[int, dict[str, Any]] = {}

    def get(self, key: str) -> StudentState | None:
        state = self._states.get(key)
        if state is not None:
            return state
        restored = self._restored.pop(key, None)
        if restored is None:
            return None
        state = StudentState.from_dict(orjson.loads(restored[1]))
        self._states[key] = state
        return state

    def put(self, state: StudentState) -> None:
        self._states[state.key] = state
        self._queued.append((state.partition, changelog_key(state.key),
                             orjson.dumps(state.to_dict())))

    def restore(self, key: str, state: StudentState | None) -> None:
        # A rollback: whatever the failed batch queued must not reach the changelog.
        self._queued.clear()
        if state is None:
            self._states.pop(key, None)
        else:
            self._states[key] = state

    def states(self) -> Iterator[StudentState]:
        for key in [*self._states, *self._restored]:
            state = self.get(key)
            if state is not None:
                yield state

    def __len__(self) -> int:
        return len(self._states) + len(self._restored)

    async def flush(self) -> None:
        queued, self._queued = self._queued, []
        if queued:
            await self._send(queued)

    def apply_restored(self, records: list[tuple[str, int, bytes | None]]) -> None:
        """Changelog records in the order the topic holds them; the last for a key wins, and
        a record without a value (a tombstone) forgets the student."""
        for key, partition, value in records:
            if key.startswith(PROGRESS_PREFIX):
                if value is not None:
                    self._progress[partition] = orjson.loads(value)
                continue
            self._states.pop(key, None)
            if value is None:
                self._restored.pop(key, None)
            else:
                self._restored[key] = (partition, value)

    def keep_partitions(self, partitions: set[int]) -> int:
        """Forget the students of every other partition (they now belong to another worker);
        returns how many were forgotten."""
        gone = [k for k, s in self._states.items() if s.partition not in partitions]
        gone += [k for k, (p, _) in self._restored.items() if p not in partitions]
        for key in gone:
            self._states.pop(key, None)
            self._restored.pop(key, None)
        self._progress = {p: v for p, v in self._progress.items() if p in partitions}
        return len(gone)

    def put_progress(self, partition: int, snapshot: dict[str, Any]) -> None:
        self._progress[partition] = snapshot
        self._queued.append((partition, changelog_key(PROGRESS_KEY.format(partition=partition)),
                             orjson.dumps(snapshot)))

    def progress(self) -> dict[int, dict[str, Any]]:
        return dict(self._progress)
