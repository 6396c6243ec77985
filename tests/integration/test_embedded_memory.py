"""The embedded ClickHouse engine hands back the memory a large batch's inserts freed."""

from __future__ import annotations

import re
from pathlib import Path

from sinks.clickhouse import purge_allocator
from tests.support.clickhouse import open_clickhouse


def anonymous_resident_mb() -> float:
    status = Path("/proc/self/status").read_text()
    match = re.search(r"RssAnon:\s+(\d+) kB", status)
    assert match, "Linux reports the resident anonymous memory of a process"
    return int(match.group(1)) / 1024


def test_purging_the_allocator_after_large_inserts_lowers_the_resident_size(
        tmp_path: Path) -> None:
    with open_clickhouse(tmp_path / "clickhouse") as client:
        client.command(
            "CREATE TABLE wide (id UInt64, detail String) ENGINE = MergeTree ORDER BY id")
        for start in range(0, 600_000, 100_000):
            client.insert("wide", [[n, f"{n:0200d}"] for n in range(start, start + 100_000)],
                          column_names=["id", "detail"])
        before = anonymous_resident_mb()
        purge_allocator(client)
        after = anonymous_resident_mb()
        assert client.query("SELECT count() FROM wide").result_rows == [(600_000,)]
    # The inserts left tens of megabytes in jemalloc's caches; Python freed nothing meanwhile.
    assert before - after >= 20, (before, after)
