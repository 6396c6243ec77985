"""The interpreter's cyclic garbage collector, set for a long-running stream worker.

Python collects its youngest generation after 700 net allocations. A worker allocates tens of
objects per event (records, events, rows, Faust's messages) and frees nearly all of them by
reference counting within the batch, yet at that threshold it ran thousands of collections per
minute, and the full ones walked the whole heap: students' state, Faust, every imported module.
On a 180,000-event replay that was a sixth of the event loop's time.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


def tune_garbage_collector(young_threshold: int) -> None:
    """Once started: what is alive now (modules, the app, its schemas) lives as long as the
    process, so it is moved out of the collector's sight; and the young generation is
    collected after `young_threshold` net allocations. The older generations keep their
    ratios to it. Reference counting still frees acyclic garbage at once; only garbage in
    reference cycles waits a little longer."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, oldest)


@dataclass(frozen=True)
class CollectorTimes:
    """Seconds in, and number of, collections by generation; and the young threshold."""

    seconds: tuple[float, float, float]
    collections: tuple[int, int, int]
    young_threshold: int


class GarbageCollectorTime:
    """Times this process's collections, in the collector's own callback, into plain numbers
    read when asked: a callback may run in the middle of any allocation, including one under a
    metric's lock."""

    def __init__(self) -> None:
        self._seconds = [0.0, 0.0, 0.0]
        self._collections = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self._seconds[generation] += time.perf_counter() - self._started
        self._collections[generation] += 1

    def snapshot(self) -> CollectorTimes:
        seconds, collections = self._seconds, self._collections
        return CollectorTimes((seconds[0], seconds[1], seconds[2]),
                              (collections[0], collections[1], collections[2]),
                              gc.get_threshold()[0])

    def close(self) -> None:
        gc.callbacks.remove(self._on_collection)


class GarbageCollectorMetrics(Collector):
    """`engage_gc_seconds_total` and `engage_gc_collections_total` by generation, and
    `engage_gc_young_threshold`, for each of the worker's processes (`process` label): how much
    of each one's time collections take. A source answers None until it has numbers."""

    def __init__(self, registry: CollectorRegistry,
                 sources: dict[str, Callable[[], CollectorTimes | None]]) -> None:
        self._sources = sources
        registry.register(self)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        seconds = CounterMetricFamily(
            "engage_gc_seconds", "Time spent in the interpreter's cyclic garbage collections, "
            "by process and generation", labels=["process", "generation"])
        collections = CounterMetricFamily(
            "engage_gc_collections", "Cyclic garbage collections, by process and generation",
            labels=["process", "generation"])
        threshold = GaugeMetricFamily(
            "engage_gc_young_threshold", "Net allocations between young-generation garbage "
            "collections (ENGAGE_GC_YOUNG_THRESHOLD), by process", labels=["process"])
        for process, source in self._sources.items():
            times = source()
            if times is None:
                continue
            for generation in range(3):
                seconds.add_metric([process, str(generation)], times.seconds[generation])
                collections.add_metric([process, str(generation)],
                                       times.collections[generation])
            threshold.add_metric([process], times.young_threshold)
        yield seconds
        yield collections
        yield threshold
