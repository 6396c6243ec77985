"""The worker's garbage collector settings and the time collections take, as /metrics shows."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from streams.tuning.collector import (
    GarbageCollectorMetrics,
    GarbageCollectorTime,
    tune_garbage_collector,
)


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_tuning_sets_the_young_threshold_keeps_the_older_ratios_and_freezes_what_is_alive(
) -> None:
    _, middle, oldest = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    tune_garbage_collector(40_000)
    assert gc.get_threshold() == (40_000, middle, oldest)
    assert gc.get_freeze_count() > frozen_before


def test_collections_are_timed_and_counted_by_process_and_generation() -> None:
    registry = CollectorRegistry()
    timer = GarbageCollectorTime()
    GarbageCollectorMetrics(registry, {"faust": timer.snapshot, "engine": lambda: None})
    faust = {"process": "faust", "generation": "2"}
    try:
        before = registry.get_sample_value("engage_gc_collections_total", faust)
        gc.collect()
        gc.collect()
        after = registry.get_sample_value("engage_gc_collections_total", faust)
        seconds = registry.get_sample_value("engage_gc_seconds_total", faust)
        assert before is not None
        assert after == before + 2
        assert seconds is not None
        assert seconds > 0
        assert registry.get_sample_value("engage_gc_young_threshold",
                                         {"process": "faust"}) == gc.get_threshold()[0]
        # A process that has not reported yet shows nothing rather than zeros.
        assert registry.get_sample_value("engage_gc_young_threshold",
                                         {"process": "engine"}) is None
    finally:
        timer.close()
    gc.collect()
    assert registry.get_sample_value("engage_gc_collections_total", faust) == after
