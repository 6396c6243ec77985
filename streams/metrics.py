"""Prometheus metrics, created once from an injected registry and updated at the edges."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# The text exposition format; aiohttp adds the charset itself and refuses one given here.
EXPOSITION_TYPE = "text/plain; version=0.0.4"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (10, 100, 500, 1000, 2500, 5000, 10000, 20000)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_consumed = Counter(
            "engage_events_consumed_total", "Events accepted from Kafka, by topic and type",
            ["topic", "type"], registry=registry)
        self.events_dead_lettered = Counter(
            "engage_events_dead_lettered_total", "Records sent to the dead-letter topic and "
            "table, by reason", ["reason"], registry=registry)
        self.event_to_sink_seconds = Histogram(
            "engage_event_to_sink_seconds", "From an event's arrival in Kafka to its rows "
            "being written to ClickHouse", buckets=LATENCY_BUCKETS, registry=registry)
        self.batch_events = Histogram(
            "engage_batch_events", "Events in each batch handed to the engine process (larger "
            "while catching up, see ENGAGE_BATCH_CATCH_UP_SECONDS)", buckets=BATCH_BUCKETS,
            registry=registry)
        self.sink_rows_written = Counter(
            "engage_sink_rows_written_total", "Rows written to ClickHouse, by table",
            ["table"], registry=registry)
        self.sink_flush_seconds = Histogram(
            "engage_sink_flush_seconds", "Time to write one table's batch to ClickHouse",
            ["table"], buckets=LATENCY_BUCKETS, registry=registry)
        self.sink_errors = Counter(
            "engage_sink_errors_total", "Failed ClickHouse writes, by table and kind "
            "(retryable or fatal)", ["table", "kind"], registry=registry)
        self.consumer_lag = Gauge(
            "engage_consumer_lag", "Messages not yet consumed, by topic and partition",
            ["topic", "partition"], registry=registry)
        self.consumer_stalled = Gauge(
            "engage_consumer_stalled", "1 while partitions hold unprocessed messages and no "
            "batch has been taken for ENGAGE_STALL_SECONDS (/healthz fails)", registry=registry)
        self.rules_judged_through = Gauge(
            "engage_rules_judged_through_seconds", "End of the last local day the alert rules "
            "have judged, by tenant (Unix time)", ["tenant"], registry=registry)
        self.alerts_raised = Counter(
            "engage_alerts_raised_total", "Alerts raised for human review, by rule",
            ["rule"], registry=registry)
        self.events_without_consent = Counter(
            "engage_events_without_consent_total", "Engagement events not processed for want "
            "of consent, by tenant", ["tenant"], registry=registry)
        self.students_in_state = Gauge(
            "engage_students_in_state", "Students held in this worker's stream state",
            registry=registry)
        self.heap_trims = Counter(
            "engage_heap_trims_total", "Times freed memory was handed back to the system "
            "after a batch (ENGAGE_HEAP_TRIM_SECONDS), by the worker's process and allocator "
            "(glibc's; the embedded ClickHouse engine's jemalloc)", ["process", "allocator"],
            registry=registry)
        self.events_late = Counter(
            "engage_events_late_total", "Events older than the lateness bound, refolded from "
            "storage", ["tenant"], registry=registry)
        self.events_duplicate = Counter(
            "engage_events_duplicate_total", "Events delivered again and counted once",
            registry=registry)
        self.roster_fields_dropped = Counter(
            "engage_roster_fields_dropped_total", "Roster fields outside the allow-list, "
            "dropped unstored", ["reason"], registry=registry)
        self.gateway_requests = Counter(
            "engage_gateway_requests_total", "HTTP gateway requests, by endpoint and status",
            ["endpoint", "status"], registry=registry)
        self.scores_published = Counter(
            "engage_scores_published_total", "Score updates published on engage.scores",
            registry=registry)


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.digests_sent = Counter(
            "engage_notifier_digests_sent_total", "Tutor digests delivered, by channel",
            ["channel"], registry=registry)
        self.delivery_failures = Counter(
            "engage_notifier_delivery_failures_total", "Failed digest deliveries (each retry "
            "counts), by channel", ["channel"], registry=registry)
        self.alerts_consumed = Counter(
            "engage_notifier_alerts_consumed_total", "Alerts read from engage.review.alerts",
            registry=registry)


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
