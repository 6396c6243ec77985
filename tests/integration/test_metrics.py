"""The live /metrics exposition after real traffic: counters move, promtool accepts it, and
every metric a dashboard panel queries is there."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.metrics import NotifierMetrics
from streams.settings import Settings
from tests.ops.dashboards import exposed_family, prometheus_metrics
from tests.ops.tools import tool
from tests.support.events import event
from tests.support.worker import EngineEnv, WorkerProcess, send

pytestmark = pytest.mark.integration


def notifier_exposition() -> str:
    registry = CollectorRegistry()
    metrics = NotifierMetrics(registry)
    metrics.digests_sent.labels(channel="webhook").inc()
    metrics.delivery_failures.labels(channel="email").inc()
    return generate_latest(registry).decode()


def test_live_metrics_move_and_pass_promtool(engine_env: EngineEnv, worker: WorkerProcess,
                                             tmp_path: Path) -> None:
    worker.start()
    start = datetime.now(tz=UTC) - timedelta(hours=1)
    events = [event("vle.click", "m1", start + timedelta(minutes=k), module="BIO1001")
              for k in range(5)]
    events.append({**events[0], "occurred_at": (start + timedelta(days=3)).isoformat(),
                   "event_id": "too-far-ahead"})
    send(engine_env, worker, events)
    time.sleep(6)  # the lag gauge is sampled every few seconds
    status, body = worker.get("/metrics")
    assert status == 200
    text = body.decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }
    consumed = samples[("engage_events_consumed_total",
                        (("topic", "engage.vle.clicks"), ("type", "vle.click")))]
    assert consumed == 5
    assert samples[("engage_events_dead_lettered_total", (("reason", "future_timestamp"),))] == 1
    assert samples[("engage_sink_rows_written_total", (("table", "activity"),))] == 5
    assert samples[("engage_event_to_sink_seconds_count", ())] >= 5
    assert samples[("engage_students_in_state", ())] == 1
    # Both of the worker's processes run with its own garbage collector settings (see
    # streams.tuning.collector), and both report their collections.
    for process in ("faust", "engine"):
        assert samples[("engage_gc_young_threshold", (("process", process),))] == (
            Settings.model_fields["gc_young_threshold"].default)
        assert ("engage_gc_seconds_total", (("generation", "2"), ("process", process))) in samples
    # Freed memory was handed back to the system after a batch (see streams.tuning.heap): by both
    # processes, and in the engine's by the embedded ClickHouse engine's allocator too.
    for process, allocator in (("faust", "glibc"), ("engine", "glibc"),
                               ("engine", "clickhouse")):
        labels = (("allocator", allocator), ("process", process))
        assert samples[("engage_heap_trims_total", labels)] >= 1, labels
    assert any(name == "engage_consumer_lag" for name, _ in samples)
    judged = [value for (name, labels), value in samples.items()
              if name == "engage_rules_judged_through_seconds"]
    # The rules judge days that ended at least the settle time before the newest event (every
    # tenant: event time is the stream's, whichever tenant the events belong to).
    assert judged
    assert all(start.timestamp() - 2 * 86400 < value <= start.timestamp() for value in judged)

    checked = subprocess.run([tool("promtool"), "check", "metrics"], input=text,
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    exposed = {family.name for family in text_string_to_metric_families(text)}
    exposed |= {family.name for family in
                text_string_to_metric_families(notifier_exposition())}
    exposed_samples = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    missing = {m for m in prometheus_metrics()
               if exposed_family(m) not in exposed and m not in exposed_samples
               and m.removesuffix("_total") not in exposed}
    assert not missing, f"dashboard panels query metrics nobody exposes: {missing}"
