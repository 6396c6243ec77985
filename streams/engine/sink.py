"""The engine's ClickHouse sink as settings describe it: connected, migrated, retention set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sinks.clickhouse import RetentionDays, apply_retention, connect, migrate
from sinks.writer import ClickHouseSink
from streams.settings import Settings

OnSinkError = Callable[[str, str], None]


def open_sink(settings: Settings, on_error: OnSinkError | None = None) -> ClickHouseSink:
    """`on_error(table, kind)` hears of every failed write (kind: retryable or fatal)."""

    def _connect() -> Any:
        client = connect(
            settings.clickhouse_url,
            settings.clickhouse_database,
            user=settings.clickhouse_user,
            password=(settings.clickhouse_password.get_secret_value()
                      if settings.clickhouse_password else None),
        )
        migrate(client)
        apply_retention(client, retention_of(settings))
        return client

    return ClickHouseSink(_connect, retry_max_seconds=settings.sink_retry_max_seconds,
                          on_error=on_error)


def retention_of(settings: Settings) -> RetentionDays:
    return RetentionDays(
        activity=settings.retention_days_activity,
        measures=settings.retention_days_measures,
        dead_letters=settings.retention_days_dead_letters,
        attendance=settings.retention_days_attendance,
        review=settings.retention_days_review,
    )
