"""`scoring/` stays pure: no Kafka, ClickHouse, metrics or asyncio imports, and it never reads
the clock (event time and "now" are passed in), so replays and recomputes agree with the stream.

It imports only `scoring`, `schemas` and an allow-list of pure standard library modules (plus
pydantic, which its configuration models use): no files, sockets, processes, environment,
randomness or logging. Every import counts, also under `if TYPE_CHECKING:` and inside functions.
It calls none of the builtins that do I/O or run code (`open`, `print`, `eval`, ...)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.support.source_tree import (
    REPO_ROOT,
    discover,
    dotted_name,
    explicit_target,
    imports_in,
    within,
)

SCORING = Path(__file__).resolve().parents[3] / "scoring"
FORBIDDEN_MODULES = frozenset(
    {"faust", "mode", "aiokafka", "kafka", "clickhouse_connect", "chdb", "prometheus_client",
     "asyncio"}
)
# What scoring may import: the project's pure layers, and standard library modules (with their
# submodules) that touch no file, socket, process, environment, clock or random source. Not here
# on purpose: os, sys, io, pathlib, socket, subprocess, random, secrets, uuid (uuid1 reads the
# clock and the MAC address, uuid4 is random), time, logging, importlib, pydantic_settings (it
# reads the environment).
MAY_IMPORT_FROM_PROJECT = ("scoring", "schemas")
PURE_MODULES = frozenset(
    {"__future__", "abc", "bisect", "collections", "copy", "dataclasses", "datetime", "decimal",
     "enum", "fractions", "functools", "hashlib", "heapq", "itertools", "json", "math",
     "numbers", "operator", "re", "statistics", "string", "textwrap", "types", "typing",
     "zoneinfo", "pydantic"}
)
# Builtins that read or write the terminal or files, or run code from strings.
IMPURE_BUILTINS = frozenset({"open", "input", "print", "exec", "eval", "__import__"})
# Modules whose attributes are the process's environment; used through any alias.
PROCESS_MODULES = frozenset({"os", "sys"})
PROJECT_MODULES = discover(REPO_ROOT)
# Clock reads, by what they are called through in source and by what they resolve to.
CLOCK_CALLS = frozenset({"datetime.now", "datetime.utcnow", "datetime.today", "date.today",
                         "time.time", "time.time_ns", "time.monotonic", "time.perf_counter"})


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


def impurities(source: str, package: str = "scoring") -> list[str]:
    """What makes `source` (a module in `package`, for relative imports) impure, in order."""
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
    found += imports_off_the_allow_list(tree, package)
    found += impure_builtins(tree)
    found += process_attributes(tree, aliases)
    return list(dict.fromkeys(found))


def imports_off_the_allow_list(tree: ast.Module, package: str) -> list[str]:
    found = []
    for imp in imports_in(tree, package):
        project = explicit_target(imp, PROJECT_MODULES)
        if project is not None:
            if not within(project, MAY_IMPORT_FROM_PROJECT):
                found.append(f"imports {project}")
        elif not within(imp.module, PURE_MODULES):
            found.append(f"imports {imp.module}")
    return found


def bound_names(tree: ast.Module) -> set[str]:
    """Names the module binds itself anywhere (a local `open` is not the builtin)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
    return names


def impure_builtins(tree: ast.Module) -> list[str]:
    shadowed = bound_names(tree)
    called = {id(node.func) for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    return [
        f"calls {node.id}()" if id(node) in called else f"refers to {node.id}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        and node.id in IMPURE_BUILTINS and node.id not in shadowed
    ]


def process_attributes(tree: ast.Module, aliases: dict[str, str]) -> list[str]:
    """`os.environ`, `sys.argv`, `path.exists` after `from os import path`, ..."""
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    local = bound_names(tree) - aliases.keys()  # a parameter named `sys` is not the module
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        used = dotted_name(node)
        if used is None:
            continue
        head, _, rest = used.partition(".")
        resolved = f"{aliases.get(head, head)}.{rest}"
        if head not in local and resolved.split(".")[0] in PROCESS_MODULES:
            found.append(f"uses {resolved}")
    return found


SCORING_FILES = sorted(SCORING.rglob("*.py"))


def test_the_scan_sees_the_scoring_package() -> None:
    names = {path.name for path in SCORING_FILES}
    assert {"sessionize.py", "scores.py", "timebase.py", "measures.py", "config.py"} <= names


@pytest.mark.parametrize("path", SCORING_FILES, ids=lambda p: str(p.relative_to(SCORING)))
def test_scoring_module_is_pure(path: Path) -> None:
    package = ".".join(path.parent.relative_to(REPO_ROOT).parts)  # relative imports start here
    found = impurities(path.read_text(encoding="utf-8"), package)
    assert found == [], f"{path.relative_to(REPO_ROOT)} is impure: {'; '.join(found)}"


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


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        ("from sinks import queries", "imports sinks.queries"),
        ("import sinks.writer as writer", "imports sinks.writer"),
        ("from streams.engine import local", "imports streams.engine.local"),
        ("import os", "imports os"),
        ("import os.path", "imports os.path"),
        ("import sys", "imports sys"),
        ("import io", "imports io"),
        ("import socket", "imports socket"),
        ("import subprocess", "imports subprocess"),
        ("import logging", "imports logging"),
        ("import uuid", "imports uuid"),
        ("import time", "imports time"),
        ("from pydantic_settings import BaseSettings", "imports pydantic_settings"),
        ("from pathlib import Path", "imports pathlib"),
        ("import random", "imports random"),
        ("from random import Random", "imports random"),
        ("from typing import TYPE_CHECKING\n"
         "if TYPE_CHECKING:\n"
         "    from streams.settings import Settings\n", "imports streams.settings"),
        ("def later() -> None:\n    import shutil\n", "imports shutil"),
        ("import importlib\nimportlib.import_module('tempfile')", "imports tempfile"),
        ("open('x')", "calls open()"),
        ("with open('x') as f:\n    pass", "calls open()"),
        ("print('score', 1)", "calls print()"),
        ("input()", "calls input()"),
        ("eval('1 + 1')", "calls eval()"),
        ("exec('x = 1')", "calls exec()"),
        ("__import__('os')", "calls __import__()"),
        ("__import__('os')", "imports os"),
        ("list(map(print, [1]))", "refers to print"),
        ("import os\nos.environ['TZ']", "uses os.environ"),
        ("import sys as system\nsystem.exit(1)", "uses sys.exit"),
        ("from os import path\npath.exists('x')", "uses os.path.exists"),
    ],
)
def test_the_scan_catches_io_and_other_layers(source: str, finding: str) -> None:
    assert finding in impurities(source)


def test_the_scan_passes_what_scoring_may_use() -> None:
    source = (
        "from __future__ import annotations\n"
        "import bisect, hashlib, itertools, math, re\n"
        "from collections.abc import Mapping\n"
        "from dataclasses import dataclass, field\n"
        "from fractions import Fraction\n"
        "from typing import TYPE_CHECKING, Any\n"
        "from pydantic import BaseModel, ConfigDict\n"
        "from schemas.events import Event\n"
        "from scoring.timebase import to_ms\n"
        "from . import measures\n"
        "from .rules import RuleHit\n"
        "if TYPE_CHECKING:\n"
        "    from scoring.student import StudentState\n"
        "def tail_is_open(state: Any) -> bool:\n"
        "    return state.open() and state.print is not None\n"
        "def view(open: bool, sys: Any) -> Any:\n"
        "    return open or sys.version\n"
    )
    assert impurities(source) == []


def test_the_allow_list_names_standard_library_modules() -> None:
    assert PURE_MODULES - {"pydantic"} <= sys.stdlib_module_names


def test_the_forbidden_modules_are_off_the_allow_list() -> None:
    assert not FORBIDDEN_MODULES & PURE_MODULES
