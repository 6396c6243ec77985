"""Processor hooks that update the Prometheus metrics at the edges."""

from __future__ import annotations

from typing import Any

from sinks.reports import FlushReport
from streams.engine.contract import Hooks
from streams.metrics import EngineMetrics


class MetricHooks(Hooks):
    def __init__(self, metrics: EngineMetrics) -> None:
        self.metrics = metrics
        # `labels()` validates and locks on every call; a cached child is a plain increment.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def consumed(self, topic: str, event_type: str, count: int) -> None:
        self._child(self.metrics.events_consumed, topic, event_type).inc(count)

    def dead_lettered(self, reason: str, count: int = 1) -> None:
        self._child(self.metrics.events_dead_lettered, reason).inc(count)

    def without_consent(self, tenant: str, count: int = 1) -> None:
        self._child(self.metrics.events_without_consent, tenant).inc(count)

    def late(self, tenant: str, count: int = 1) -> None:
        self._child(self.metrics.events_late, tenant).inc(count)

    def duplicate(self, count: int = 1) -> None:
        self.metrics.events_duplicate.inc(count)

    def roster_field_dropped(self, reason: str, count: int = 1) -> None:
        self.metrics.roster_fields_dropped.labels(reason=reason).inc(count)

    def alert_raised(self, rule: str, count: int = 1) -> None:
        self.metrics.alerts_raised.labels(rule=rule).inc(count)

    def judged_through(self, tenant: str, day_end_ms: int) -> None:
        self.metrics.rules_judged_through.labels(tenant=tenant).set(day_end_ms / 1000)

    def flushed(self, report: FlushReport, arrivals_ms: list[int], now_ms: int) -> None:
        for table, rows in report.rows.items():
            self.metrics.sink_rows_written.labels(table=table).inc(rows)
        for table, seconds in report.seconds.items():
            self.metrics.sink_flush_seconds.labels(table=table).observe(seconds)
        for arrival in arrivals_ms:
            self.metrics.event_to_sink_seconds.observe(max(0.0, (now_ms - arrival) / 1000))
