"""The engine's reports, applied to the worker's Prometheus metrics: once, at the edge."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from streams.engine.contract import BatchReport, Counted, SinkErrorNotice
from streams.metrics import WorkerMetrics


class ReportedMetrics:
    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics
        self._counters: dict[Counted, Counter] = {
            Counted.CONSUMED: metrics.events_consumed,
            Counted.DEAD_LETTERED: metrics.events_dead_lettered,
            Counted.WITHOUT_CONSENT: metrics.events_without_consent,
            Counted.LATE: metrics.events_late,
            Counted.DUPLICATE: metrics.events_duplicate,
            Counted.ROSTER_FIELD_DROPPED: metrics.roster_fields_dropped,
            Counted.ALERT_RAISED: metrics.alerts_raised,
            Counted.SCORE_PUBLISHED: metrics.scores_published,
        }
        # `labels()` validates and locks on every call; a cached child is a plain increment.
        self._children: dict[tuple[Counted, tuple[str, ...]], Any] = {}

    def _child(self, what: Counted, labels: tuple[str, ...]) -> Any:
        key = (what, labels)
        child = self._children.get(key)
        if child is None:
            counter = self._counters[what]
            child = self._children[key] = counter.labels(*labels) if labels else counter
        return child

    def apply(self, report: BatchReport) -> None:
        metrics = self.metrics
        for (what, labels), count in report.counts.items():
            self._child(what, labels).inc(count)
        for tenant, day_end_ms in report.judged_through_ms.items():
            metrics.rules_judged_through.labels(tenant=tenant).set(day_end_ms / 1000)
        for flush in report.flushes:
            for table, rows in flush.rows.items():
                metrics.sink_rows_written.labels(table=table).inc(rows)
            for table, seconds in flush.seconds.items():
                metrics.sink_flush_seconds.labels(table=table).observe(seconds)
        for arrival in report.arrivals_ms:
            metrics.event_to_sink_seconds.observe(
                max(0.0, (report.written_at_ms - arrival) / 1000))
        metrics.students_in_state.set(report.students_in_state)
        for allocator, trims in report.heap_trims.items():
            metrics.heap_trims.labels(process="engine", allocator=allocator).inc(trims)

    def sink_error(self, notice: SinkErrorNotice) -> None:
        self.metrics.sink_errors.labels(table=notice.table, kind=notice.kind).inc()
