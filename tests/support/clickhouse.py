"""Reading a test's embedded ClickHouse folder once no worker holds it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.clickhouse import connect


@contextmanager
def open_clickhouse(path: Path) -> Iterator[Client]:
    client = connect(f"chdb://{path}", "engage")
    try:
        yield client
    finally:
        client.close()


def rows(client: Client, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(sql, parameters=parameters).result_rows]
