"""Buffered, batched, idempotent ClickHouse writes: `add` typed rows, then `flush` them together.

All ClickHouse calls run on one dedicated thread: chdb has no async client, and one client must
never be used by two tasks at once. A failed flush keeps the buffer, so the caller commits no
offsets past unwritten rows and retries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from clickhouse_connect.driver.insert import InsertContext

from sinks.errors import SinkError, SinkUnavailable
from sinks.reports import FlushReport
from sinks.rows import COLUMNS, TABLE_OF, Row

log = logging.getLogger(__name__)
T = TypeVar("T")

class VersionClock:
    """Strictly increasing row versions, so a later write of a key always wins."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(time.time_ns(), self._last + 1)
        return self._last


class ClickHouseSink:
    def __init__(
        self,
        connect: Callable[[], Client],
        *,
        retry_max_seconds: float = 30.0,
        on_error: Callable[[str, str], None] | None = None,
    ) -> None:
        self._connect = connect
        self._client: Client | None = None
        # Per table, the insert's column types, read once per connection instead of by a
        # DESCRIBE before every insert.
        self._insert_contexts: dict[str, InsertContext] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._buffers: dict[str, list[Sequence[Any]]] = {}
        self._keyed: dict[str, dict[Hashable, Sequence[Any]]] = {}
        self.retry_max_seconds = retry_max_seconds
        self._on_error = on_error or (lambda table, kind: None)
        self.versions = VersionClock()

    # -- buffering -------------------------------------------------------------------------
    def add(self, row: Row) -> None:
        """Buffer a row for its table; in a versioned table a later row with the same key in
        this batch replaces the earlier one."""
        table = TABLE_OF[type(row)]
        if table.key is None:
            self._buffers.setdefault(table.name, []).append(row)
        else:
            self._keyed.setdefault(table.name, {})[table.key(row)] = row

    def discard(self) -> None:
        """Drop what is buffered (a failed batch is about to be redone)."""
        self._buffers.clear()
        self._keyed.clear()

    def pending_rows(self) -> int:
        return sum(map(len, self._buffers.values())) + sum(map(len, self._keyed.values()))

    # -- running on the ClickHouse thread --------------------------------------------------
    def client(self) -> Client:
        if self._client is None:
            self._client = self._connect()
            self._insert_contexts = {}
        return self._client

    def _insert(self, client: Client, table: str, rows: list[Sequence[Any]]) -> None:
        context = self._insert_contexts.pop(table, None)
        if context is None:
            context = client.create_insert_context(table, column_names=list(COLUMNS[table]))
        client.insert(data=rows, context=context)
        # Kept only after a successful insert: a failed one may leave data in the context.
        self._insert_contexts[table] = context

    async def run(self, work: Callable[[Client], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self.client()))

    def run_sync(self, work: Callable[[Client], T]) -> T:
        return self._executor.submit(lambda: work(self.client())).result()

    # -- flushing --------------------------------------------------------------------------
    def _take_batches(self) -> dict[str, list[Sequence[Any]]]:
        batches = {t: rows for t, rows in self._buffers.items() if rows}
        for table, keyed in self._keyed.items():
            if keyed:
                batches.setdefault(table, []).extend(keyed.values())
        return batches

    def _write(self, client: Client, batches: dict[str, list[Sequence[Any]]]) -> FlushReport:
        report = FlushReport()
        for table, rows in batches.items():
            started = time.perf_counter()
            try:
                self._insert(client, table, rows)
            except (OperationalError, OSError) as exc:
                self._client = None
                self._on_error(table, "retryable")
                raise SinkUnavailable(f"writing {table}: {exc}") from exc
            except DatabaseError as exc:
                self._on_error(table, "fatal")
                raise SinkError(f"writing {table}: {exc}") from exc
            report.rows[table] = len(rows)
            report.seconds[table] = time.perf_counter() - started
        return report

    async def flush(self) -> FlushReport:
        """Write every buffered row; retries with backoff while ClickHouse is unavailable."""
        batches = self._take_batches()
        if not batches:
            return FlushReport()
        delay = 0.2
        attempts = 0
        while True:
            attempts += 1
            try:
                report = await self.run(lambda client: self._write(client, batches))
            except SinkUnavailable as exc:
                log.warning("ClickHouse unavailable (attempt %d), retrying in %.1fs: %s",
                            attempts, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_seconds)
                continue
            self._buffers.clear()
            self._keyed.clear()
            report.attempts = attempts
            return report

    def flush_sync(self) -> FlushReport:
        batches = self._take_batches()
        if not batches:
            return FlushReport()
        report = self._executor.submit(lambda: self._write(self.client(), batches)).result()
        self._buffers.clear()
        self._keyed.clear()
        return report

    def close(self) -> None:
        if self._client is not None:
            client = self._client
            self._executor.submit(client.close).result()
            self._client = None
        self._executor.shutdown(wait=True)
