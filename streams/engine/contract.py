"""The engine's interface: what the worker, a file import, a recompute and the tests ask of it,
and the report a batch answers with.

Two implementations: `streams.engine.local.LocalEngine` runs in the caller's process, and
`streams.engine.remote.RemoteEngine` asks the worker's engine process over its socket (which
serves a `LocalEngine`, see `streams.engine.server`). The report carries the batch's counts as
data; whoever serves metrics applies it once (`streams.worker.metric_report`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from sinks.reports import FlushReport
from streams.access import Identity
from streams.tuning.collector import CollectorTimes

TopicPartition = tuple[str, int]
# A record of the students' changelog as the worker's recovery read it: key, partition, value
# (None: a tombstone).
ChangelogEntry = tuple[str, int, bytes | None]


class RawRecord(NamedTuple):
    """One Kafka record as the engine takes it (a tuple: one is built for every event)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone, which the engine dead-letters
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class ConsumerView:
    """What the consumer knew just before a batch or tick (see `streams.engine.event_time`):
    the partitions holding messages not yet processed (None: not measured yet, so event time
    is unknown), and their high watermarks."""

    waiting: frozenset[TopicPartition] | None = frozenset()
    highwaters: Mapping[TopicPartition, int | None] = field(default_factory=dict)

    @classmethod
    def unmeasured(cls) -> ConsumerView:
        return cls(waiting=None)


# A file import or a test: everything there is has been read.
ALL_READ = ConsumerView()


class Counted(StrEnum):
    """What a batch counts, each with its labels (in this order)."""

    CONSUMED = "consumed"  # topic, type: events accepted
    DEAD_LETTERED = "dead_lettered"  # reason
    WITHOUT_CONSENT = "without_consent"  # tenant
    LATE = "late"  # tenant: beyond the lateness bound, refolded from storage
    DUPLICATE = "duplicate"  # (none): repeated event ids
    ROSTER_FIELD_DROPPED = "roster_field_dropped"  # reason
    ALERT_RAISED = "alert_raised"  # rule
    SCORE_PUBLISHED = "score_published"  # (none): score updates sent


class Counts:
    """Labelled counts: how many of each `Counted` thing, per label values."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[Counted, tuple[str, ...]], int] = {}

    def add(self, what: Counted, *labels: str, count: int = 1) -> None:
        if count:
            key = (what, labels)
            self._counts[key] = self._counts.get(key, 0) + count

    def merge(self, other: Counts) -> None:
        for (what, labels), count in other.items():
            self.add(what, *labels, count=count)

    def items(self) -> Iterator[tuple[tuple[Counted, tuple[str, ...]], int]]:
        return iter(self._counts.items())

    def of(self, what: Counted) -> dict[tuple[str, ...], int]:
        return {labels: count for (kind, labels), count in self._counts.items() if kind is what}

    def total(self, what: Counted) -> int:
        return sum(self.of(what).values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Counts) and self._counts == other._counts

    def __repr__(self) -> str:
        return f"Counts({self._counts!r})"

    def __getstate__(self) -> dict[tuple[Counted, tuple[str, ...]], int]:
        return self._counts

    def __setstate__(self, state: dict[tuple[Counted, tuple[str, ...]], int]) -> None:
        self._counts = state


@dataclass
class BatchReport:
    """What a batch or a tick did, for the metrics. Counts are of work that is written: a
    batch that fails counts nothing, and its retry one record at a time counts each once."""

    counts: Counts = field(default_factory=Counts)
    # Per tenant, the end (Unix ms) of the last local day the rules have now judged.
    judged_through_ms: dict[str, int] = field(default_factory=dict)
    # Every write to ClickHouse, including those of a batch that failed afterwards.
    flushes: list[FlushReport] = field(default_factory=list)
    # When the batch's records reached Kafka, and when their rows were written (Unix ms).
    arrivals_ms: list[int] = field(default_factory=list)
    written_at_ms: int = 0
    students_in_state: int = 0
    # The engine process's own tuning (see `streams.tuning`): set by the server.
    heap_trims: dict[str, int] = field(default_factory=dict)
    gc: CollectorTimes | None = None

    def merge(self, other: BatchReport) -> None:
        self.counts.merge(other.counts)
        self.judged_through_ms.update(other.judged_through_ms)
        self.flushes += other.flushes
        self.arrivals_ms += other.arrivals_ms
        self.written_at_ms = max(self.written_at_ms, other.written_at_ms)
        self.students_in_state = other.students_in_state


@dataclass(frozen=True, slots=True)
class SinkErrorNotice:
    """A write to ClickHouse failed and is being retried: shown on /metrics at once, not with
    the answer of the batch that waits on it."""

    table: str
    kind: str



class Engine(Protocol):
    async def batch(self, records: Sequence[RawRecord], view: ConsumerView = ALL_READ
                    ) -> BatchReport:
        """Process a batch; a record that makes processing fail is dead-lettered with the
        error instead of stopping the stream. Once this returns, the batch's rows, changelog
        records and messages are written, and its offsets may be committed."""
        ...

    async def tick(self, view: ConsumerView = ALL_READ) -> BatchReport:
        """The wall-clock housekeeping: close quiet students' last clicks, roll days over."""
        ...

    def restore(self, entries: list[ChangelogEntry]) -> None:
        """Take in students' state as the worker's recovery read it from the changelog."""
        ...

    async def keep_partitions(self, partitions: set[int]) -> int:
        """Recovery is done: keep only these partitions' students; returns how many are held."""
        ...

    async def query(self, name: str, params: dict[str, Any], identity: Identity) -> Any:
        """Answer a named read query (see `streams.views.named`) as `identity` may ask it
        (`streams.views.scope`): one it may not raises `streams.errors.QueryForbidden`, one
        that cannot be answered `streams.errors.QueryRefused`."""
        ...


class Publisher(Protocol):
    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        """Send a batch's messages (scores, alerts, dead letters); return once acknowledged."""
        ...


class Discard:
    """A publisher for runs that send nothing (a file import writes ClickHouse only)."""

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        return None


class Kept:
    """A publisher that keeps what it is given (tests read it)."""

    def __init__(self) -> None:
        self.messages: list[OutboundMessage] = []

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        self.messages += messages

    def take(self) -> list[OutboundMessage]:
        messages, self.messages = self.messages, []
        return messages
