"""`scoring/` stays pure: no Kafka, ClickHouse, metrics or asyncio imports, and it never reads
the clock (event time and "now" are passed in), so replays and recomputes agree with the stream."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SCORING = Path(__file__).resolve().parents[3] / "scoring"
FORBIDDEN_MODULES = frozenset(
    {"faust", "mode", "aiokafka", "kafka", "clickhouse_connect", "chdb", "prometheus_client",
     "asyncio"}
)
# Clock reads, by what they are called through in source and by what they resolve to.
CLOCK_CALLS = frozenset({"datetime.now", "datetime.utcnow", "datetime.today", "date.today",
                         "time.time", "time.time_ns", "time.monotonic", "time.perf_counter"})


def dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = dotted_name(node.value)
        return f"{owner}.{node.attr}" if owner else None
    return None


def imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name → what it was imported as (`dt` → `datetime.datetime`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def reads_the_clock(called: str) -> bool:
    return any(called == c or called.endswith(f".{c}") for c in CLOCK_CALLS)


def impurities(source: str) -> list[str]:
    tree = ast.parse(source)
    aliases = imported_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        found += [f"imports {m}" for m in modules if m.split(".")[0] in FORBIDDEN_MODULES]
        if not isinstance(node, ast.Call):
            continue
        called = dotted_name(node.func)
        if called is None:
            continue
        head, _, rest = called.partition(".")
        resolved = aliases.get(head, head) + (f".{rest}" if rest else "")
        if reads_the_clock(called) or reads_the_clock(resolved):
            found.append(f"reads the clock with {called}()")
        if resolved in {"importlib.import_module", "__import__"} and node.args:
            target = node.args[0]
            if (isinstance(target, ast.Constant) and isinstance(target.value, str)
                    and target.value.split(".")[0] in FORBIDDEN_MODULES):
                found.append(f"imports {target.value}")
    return found


SCORING_FILES = sorted(SCORING.rglob("*.py"))


def test_the_scan_sees_the_scoring_package() -> None:
    names = {path.name for path in SCORING_FILES}
    assert {"sessionize.py", "scores.py", "timebase.py", "measures.py", "config.py"} <= names


@pytest.mark.parametrize("path", SCORING_FILES, ids=lambda p: str(p.relative_to(SCORING)))
def test_scoring_module_is_pure(path: Path) -> None:
    assert impurities(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        ("import faust", "imports faust"),
        ("import aiokafka.structs", "imports aiokafka.structs"),
        ("from clickhouse_connect.driver import Client", "imports clickhouse_connect.driver"),
        ("import chdb as engine", "imports chdb"),
        ("from prometheus_client import Counter", "imports prometheus_client"),
        ("import asyncio", "imports asyncio"),
        ("from asyncio import sleep", "imports asyncio"),
        ("import importlib\nimportlib.import_module('faust')", "imports faust"),
        ("from datetime import datetime\ndatetime.now()", "reads the clock with datetime.now()"),
        ("import datetime\ndatetime.datetime.now(datetime.UTC)",
         "reads the clock with datetime.datetime.now()"),
        ("from datetime import datetime as dt\ndt.now()", "reads the clock with dt.now()"),
        ("from datetime import date\ndate.today()", "reads the clock with date.today()"),
        ("import time\ntime.time()", "reads the clock with time.time()"),
        ("from time import time\ntime()", "reads the clock with time()"),
        ("import time as clock\nclock.monotonic()", "reads the clock with clock.monotonic()"),
    ],
)
def test_the_scan_catches_impure_code(source: str, finding: str) -> None:
    assert finding in impurities(source)


def test_the_scan_passes_pure_code() -> None:
    source = (
        "from datetime import UTC, date, datetime, timedelta\n"
        "from zoneinfo import ZoneInfo\n"
        "def day_of(ms: int) -> date:\n"
        "    return datetime.fromtimestamp(ms / 1000, tz=UTC).date() + timedelta(days=0)\n"
        "timing = {'time': 1}\n"
        "timing.get('time')\n"
    )
    assert impurities(source) == []
