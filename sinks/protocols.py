"""What the engine's batch path needs of its storage, as two small interfaces: a sink that
buffers typed rows and writes them together, and the few reads and the one deletion a batch
makes. `sinks.writer.ClickHouseSink` with `sinks.stored.StoredRecords` implement them on
ClickHouse; unit tests use an implementation in memory."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from scoring.measures import Activity
from sinks.reports import FlushReport
from sinks.rows import ReviewQueueRow, Row


class Versions(Protocol):
    def next(self) -> int: ...


class RowSink(Protocol):
    @property
    def versions(self) -> Versions: ...

    def add(self, row: Row) -> None: ...

    async def flush(self) -> FlushReport:
        """Write every buffered row; return once they are written (retrying meanwhile)."""
        ...

    def discard(self) -> None:
        """Drop what is buffered: the batch that buffered it is about to be redone."""


class StoredRows(Protocol):
    async def engagement_activity(self, tenant: str, student_id: str, since: datetime
                                  ) -> list[Activity]: ...

    async def alerts(self, alert_ids: list[str]) -> dict[str, ReviewQueueRow]: ...

    async def erase_engagement(self, tenant: str, student_id: str) -> dict[str, int]:
        """Delete the student's engagement data; returns the rows deleted per table."""
        ...
