"""Every count the engine reports moves its Prometheus family in the worker, once per report."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from sinks.reports import FlushReport
from streams.engine.contract import BatchReport, Counted
from streams.metrics import WorkerMetrics
from streams.worker.metric_report import ReportedMetrics

LABELS = {
    Counted.CONSUMED: ("engage.vle.clicks", "vle.click"),
    Counted.DEAD_LETTERED: ("not_json",),
    Counted.WITHOUT_CONSENT: ("uni",),
    Counted.LATE: ("uni",),
    Counted.DUPLICATE: (),
    Counted.ROSTER_FIELD_DROPPED: ("special_category",),
    Counted.ALERT_RAISED: ("inactivity",),
    Counted.SCORE_PUBLISHED: (),
}
LABEL_NAMES = {
    Counted.CONSUMED: ("topic", "type"),
    Counted.DEAD_LETTERED: ("reason",),
    Counted.WITHOUT_CONSENT: ("tenant",),
    Counted.LATE: ("tenant",),
    Counted.DUPLICATE: (),
    Counted.ROSTER_FIELD_DROPPED: ("reason",),
    Counted.ALERT_RAISED: ("rule",),
    Counted.SCORE_PUBLISHED: (),
}
FAMILY = {
    Counted.CONSUMED: "engage_events_consumed_total",
    Counted.DEAD_LETTERED: "engage_events_dead_lettered_total",
    Counted.WITHOUT_CONSENT: "engage_events_without_consent_total",
    Counted.LATE: "engage_events_late_total",
    Counted.DUPLICATE: "engage_events_duplicate_total",
    Counted.ROSTER_FIELD_DROPPED: "engage_roster_fields_dropped_total",
    Counted.ALERT_RAISED: "engage_alerts_raised_total",
    Counted.SCORE_PUBLISHED: "engage_scores_published_total",
}


def test_every_kind_of_count_has_its_family() -> None:
    assert set(LABELS) == set(Counted) == set(FAMILY) == set(LABEL_NAMES)


@pytest.mark.parametrize("what", list(Counted))
def test_a_reported_count_moves_its_family_once_per_report(what: Counted) -> None:
    registry = CollectorRegistry()
    reported = ReportedMetrics(WorkerMetrics(registry))
    report = BatchReport()
    report.counts.add(what, *LABELS[what], count=3)
    labels = dict(zip(LABEL_NAMES[what], LABELS[what], strict=True))
    reported.apply(report)
    reported.apply(report)
    assert registry.get_sample_value(FAMILY[what], labels) == 6


def test_writes_days_judged_and_latency_are_shown() -> None:
    registry = CollectorRegistry()
    reported = ReportedMetrics(WorkerMetrics(registry))
    report = BatchReport(flushes=[FlushReport(rows={"activity": 4}, seconds={"activity": 0.2})],
                         judged_through_ms={"uni": 86_400_000}, arrivals_ms=[1_000, 1_500],
                         written_at_ms=3_000, students_in_state=9,
                         heap_trims={"glibc": 1})
    reported.apply(report)
    value = registry.get_sample_value
    assert value("engage_sink_rows_written_total", {"table": "activity"}) == 4
    assert value("engage_sink_flush_seconds_count", {"table": "activity"}) == 1
    assert value("engage_rules_judged_through_seconds", {"tenant": "uni"}) == 86_400
    assert value("engage_event_to_sink_seconds_count") == 2
    assert value("engage_event_to_sink_seconds_sum") == pytest.approx(3.5)
    assert value("engage_students_in_state") == 9
    assert value("engage_heap_trims_total", {"process": "engine", "allocator": "glibc"}) == 1
