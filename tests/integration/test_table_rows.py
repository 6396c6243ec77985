"""Every table the migrations create has its typed row (`sinks.rows`), field for column."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.clickhouse import migrate
from sinks.rows import TABLES
from tests.support.clickhouse import open_clickhouse, rows

pytestmark = pytest.mark.integration


def test_each_tables_row_names_its_columns_in_order(tmp_path: Path) -> None:
    with open_clickhouse(tmp_path / "clickhouse") as client:
        migrate(client)
        # Tables written to; views are read only.
        tables = {name for (name,) in rows(
            client, "SELECT name FROM system.tables WHERE database = currentDatabase() "
                    "AND engine NOT LIKE '%View'")} - {"schema_migrations"}
        columns = {table: [name for (name,) in rows(
            client, "SELECT name FROM system.columns WHERE database = currentDatabase() "
                    "AND table = {table:String} ORDER BY position", table=table)]
            for table in tables}
    assert {table.name for table in TABLES} == tables
    for table in TABLES:
        assert list(table.columns) == columns[table.name], table.name
