"""Every table a dashboard panel queries exists in the engine's schema."""

from __future__ import annotations

from tests.ops.dashboards import clickhouse_tables, prometheus_metrics, schema_objects


def test_engagement_dashboard_queries_only_existing_tables() -> None:
    tables = clickhouse_tables()
    assert {"daily_scores", "review_queue", "dead_letters"} <= tables
    assert tables <= schema_objects()


def test_operations_dashboard_covers_throughput_lag_latency_and_errors() -> None:
    metrics = prometheus_metrics()
    assert {"engage_events_consumed_total", "engage_consumer_lag",
            "engage_event_to_sink_seconds_bucket", "engage_events_dead_lettered_total",
            "engage_sink_errors_total"} <= metrics
