"""Retention from configuration lands as a TTL on every table that holds student data by date,
on the real ClickHouse engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.clickhouse import TTL_COLUMNS, RetentionDays, apply_retention, connect, migrate

pytestmark = pytest.mark.integration


def test_each_dated_table_gets_its_configured_ttl(tmp_path: Path) -> None:
    client = connect(f"chdb://{tmp_path / 'clickhouse'}", "engage")
    try:
        migrate(client)
        retention = RetentionDays(activity=11, measures=22, dead_letters=33, attendance=44,
                                  review=55)
        apply_retention(client, retention)
        apply_retention(client, retention)  # every start applies it again
        ttl = {
            table: client.command(f"SHOW CREATE TABLE {table}")
            for table in TTL_COLUMNS
        }
    finally:
        client.close()
    for table, (column, setting) in TTL_COLUMNS.items():
        days = getattr(retention, setting)
        assert f"TTL {column if column == 'day' else f'toDate({column})'} + toIntervalDay({days})" \
            in str(ttl[table]), (table, ttl[table])
    assert {"activity", "daily_measures", "daily_scores", "attendance", "dead_letters",
            "review_queue", "review_decisions", "unconsented_events"} <= set(TTL_COLUMNS)
