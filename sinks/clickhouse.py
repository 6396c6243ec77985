"""Connecting to ClickHouse (embedded chdb or a server) and applying the versioned migrations."""

from __future__ import annotations

import fcntl
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from sinks.errors import ClickHouseFolderLocked, SinkUnavailable

MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class RetentionDays:
    activity: int
    measures: int
    dead_letters: int
    attendance: int
    review: int


def connect(url: str, database: str, *, user: str | None = None, password: str | None = None
            ) -> Client:
    """A client bound to `database`, creating the database when it is missing."""
    kwargs: dict[str, Any] = {"dsn": url}
    if not url.startswith("chdb://"):
        kwargs.update(username=user or "default", password=password or "")
    try:
        client = clickhouse_connect.get_client(**kwargs)
        client.command(f"CREATE DATABASE IF NOT EXISTS {_identifier(database)}")
    except Exception as exc:
        if url.startswith("chdb://") and _folder_in_use(url.removeprefix("chdb://")):
            raise ClickHouseFolderLocked(url.removeprefix("chdb://")) from exc
        if isinstance(exc, ClickHouseError | OSError):
            raise SinkUnavailable(f"cannot reach ClickHouse at {url}: {exc}") from exc
        raise
    client.database = database
    return client


def purge_allocator(client: Client) -> None:
    """Hand the memory the embedded engine has freed back to the system. ClickHouse allocates
    with jemalloc, which keeps freed pages for reuse: after large inserts, tens of megabytes of
    them (the README's Measured section has what it did to the peak).
    Only for the embedded engine: on a server it would purge the server's allocator."""
    client.command("SYSTEM JEMALLOC PURGE")


def _folder_in_use(path: str) -> bool:
    """Whether another process holds the engine's lock on `<path>/status`."""
    status = Path(path) / "status"
    if not status.exists():
        return False
    with status.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a plain ClickHouse identifier: {name!r}")
    return name


def migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("sinks") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def migrate(client: Client) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied now."""
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version"
    )
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        for statement in _statements(sql):
            client.command(statement)
        client.insert("schema_migrations", [[version, name]], column_names=["version", "name"])
        applied.append(name)
    return applied


TTL_COLUMNS = {
    "activity": ("occurred_at", "activity"),
    "daily_measures": ("day", "measures"),
    "daily_scores": ("day", "measures"),
    # one row per unconsented event (deduplicated by its hash); kept as long as the measures
    "unconsented_events": ("day", "measures"),
    "attendance": ("occurred_at", "attendance"),
    "dead_letters": ("dead_lettered_at", "dead_letters"),
    "review_queue": ("created_at", "review"),
    "review_decisions": ("occurred_at", "review"),
}


def apply_retention(client: Client, retention: RetentionDays) -> dict[str, int]:
    """Set each table's TTL from configuration; safe to run on every start."""
    applied = {}
    for table, (column, field) in TTL_COLUMNS.items():
        days = int(getattr(retention, field))
        expression = column if column == "day" else f"toDate({column})"
        client.command(f"ALTER TABLE {table} MODIFY TTL {expression} + INTERVAL {days} DAY")
        applied[table] = days
    return applied
