"""What the provisioned Grafana dashboards query: metric names and ClickHouse tables."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.ops.tools import ROOT

DASHBOARDS = ROOT / "dashboards"
PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "le", "avg", "max",
                "min", "count", "without", "topic", "table", "kind", "reason", "rule",
                "channel", "type", "partition", "tenant"}
SUFFIXES = ("_bucket", "_sum", "_count")


def panels(name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads((DASHBOARDS / name).read_text())["panels"]
    return found


def prometheus_metrics() -> set[str]:
    names = set()
    for panel in panels("operations.json"):
        for target in panel["targets"]:
            for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", target["expr"]):
                if word.startswith("engage_"):
                    names.add(word)
    return names


def exposed_family(metric: str) -> str:
    for suffix in SUFFIXES:
        if metric.endswith(suffix):
            return metric.removesuffix(suffix)
    return metric


def clickhouse_tables() -> set[str]:
    tables = set()
    for panel in panels("engagement.json"):
        for target in panel["targets"]:
            tables |= set(re.findall(r"\bengage\.([a-z_]+)", target["rawSql"]))
    return tables


def schema_objects() -> set[str]:
    sql = "\n".join(p.read_text() for p in (ROOT / "sinks" / "migrations").glob("*.sql"))
    return set(re.findall(r"CREATE (?:TABLE|VIEW) IF NOT EXISTS ([a-z_]+)", sql))
