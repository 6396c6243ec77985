"""The engine's storage in memory, for unit tests of `LocalEngine`: a `RowSink` that keeps the
rows it flushes (a keyed table keeps the latest row per key, as `FINAL` reads it) and the
`StoredRows` reads over them. Chosen flushes fail, to test what a batch does then."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from scoring.measures import KIND_OF_EVENT_TYPE, Activity
from scoring.timebase import to_ms
from sinks.erasure import ENGAGEMENT_TABLES
from sinks.reports import FlushReport
from sinks.rows import TABLE_OF, ActivityRow, ReviewQueueRow, Row


class Versions:
    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last += 1
        return self._last


class MemorySink:
    def __init__(self) -> None:
        self._versions = Versions()
        self.buffered: list[Row] = []
        # Per table, rows by key (the row itself for a table without one).
        self.tables: dict[str, dict[Hashable, Row]] = {}
        # Which flushes fail (counting from 1), as when ClickHouse goes away mid-batch.
        self.failing: set[int] = set()
        self.flushes = 0

    @property
    def versions(self) -> Versions:
        return self._versions

    def add(self, row: Row) -> None:
        self.buffered.append(row)

    async def flush(self) -> FlushReport:
        self.flushes += 1
        if self.flushes in self.failing:
            raise ConnectionError("ClickHouse is down")
        written: dict[str, int] = {}
        for row in self.buffered:
            table = TABLE_OF[type(row)]
            key = table.key(row) if table.key is not None else (len(self.rows(table.name)), row)
            self.tables.setdefault(table.name, {})[key] = row
            written[table.name] = written.get(table.name, 0) + 1
        self.buffered.clear()
        return FlushReport(rows=written, seconds={name: 0.0 for name in written})

    def discard(self) -> None:
        self.buffered.clear()

    def rows(self, table: str) -> list[Row]:
        return list(self.tables.get(table, {}).values())


class MemoryStored:
    def __init__(self, sink: MemorySink) -> None:
        self._sink = sink

    async def engagement_activity(self, tenant: str, student_id: str, since: datetime
                                  ) -> list[Activity]:
        since_ms = to_ms(since)
        found = []
        for row in self._sink.rows("activity"):
            assert isinstance(row, ActivityRow)
            if (row.tenant, row.student_id) == (tenant, student_id) and (
                    row.occurred_at >= since_ms and row.type in KIND_OF_EVENT_TYPE):
                found.append(Activity(row.event_id, KIND_OF_EVENT_TYPE[row.type],
                                      row.occurred_at, row.module))
        return found

    async def alerts(self, alert_ids: list[str]) -> dict[str, ReviewQueueRow]:
        wanted = set(alert_ids)
        return {row.alert_id: row for row in self._sink.rows("review_queue")
                if isinstance(row, ReviewQueueRow) and row.alert_id in wanted}

    async def erase_engagement(self, tenant: str, student_id: str) -> dict[str, int]:
        deleted = {}
        for table in ENGAGEMENT_TABLES:
            rows = self._sink.tables.get(table, {})
            gone = [key for key, row in rows.items()
                    if (row[0], row[1]) == (tenant, student_id)]
            for key in gone:
                del rows[key]
            deleted[table] = len(gone)
        return deleted
