"""A batch's metric counts wait for the batch to be written, then go on once, summed; and the
engine process's reports reach the Faust process's metrics as they were made."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import pytest

from sinks.reports import FlushReport
from streams.engine.contract import BatchHooks, Hooks, RecordedHooks, replay

HOOK_NAMES = [name for name, value in vars(Hooks).items()
              if callable(value) and not name.startswith("_")]


class Recorded(Hooks):
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def consumed(self, topic: str, event_type: str, count: int) -> None:
        self.calls.append(("consumed", topic, event_type, count))

    def dead_lettered(self, reason: str, count: int = 1) -> None:
        self.calls.append(("dead_lettered", reason, count))

    def late(self, tenant: str, count: int = 1) -> None:
        self.calls.append(("late", tenant, count))

    def duplicate(self, count: int = 1) -> None:
        self.calls.append(("duplicate", count))

    def flushed(self, report: FlushReport, arrivals_ms: list[int], now_ms: int) -> None:
        self.calls.append(("flushed", report.rows, now_ms))


def test_counts_wait_for_the_batch_and_are_summed_per_label() -> None:
    target = Recorded()
    batch = BatchHooks(target)
    batch.dead_lettered("not_json")
    batch.late("uni", 2)
    batch.dead_lettered("not_json")
    batch.dead_lettered("unknown_tenant")
    batch.duplicate()
    batch.consumed("engage.vle.clicks", "vle.click", 5)
    assert target.calls == []
    batch.hand_on()
    assert sorted(target.calls, key=str) == sorted([
        ("dead_lettered", "not_json", 2), ("dead_lettered", "unknown_tenant", 1),
        ("late", "uni", 2), ("duplicate", 1), ("consumed", "engage.vle.clicks", "vle.click", 5),
    ], key=str)
    batch.hand_on()
    assert len(target.calls) == 5, "handed on once"


def test_a_batch_never_handed_on_counts_nothing_but_its_writes() -> None:
    target = Recorded()
    batch = BatchHooks(target)
    batch.dead_lettered("not_json")
    batch.flushed(FlushReport(rows={"activity": 3}), [], 1_000)
    # Rows that reached ClickHouse count whatever the batch does next.
    assert target.calls == [("flushed", {"activity": 3}, 1_000)]


def test_a_day_judged_cannot_be_reported_before_its_batch_is_written() -> None:
    with pytest.raises(TypeError):
        BatchHooks(Recorded()).judged_through("uni", 0)


class EveryCall(Hooks):
    """Records a call to any hook, by name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []


for _name in HOOK_NAMES:
    def _record(self: EveryCall, *args: Any, _name: str = _name) -> None:
        self.calls.append((_name, args))
    setattr(EveryCall, _name, _record)


def test_every_hook_the_engine_process_reports_is_replayed_as_it_was_called() -> None:
    """A hook RecordedHooks does not record would fall through to Hooks' no-op, and its
    metric would stand still in the worker while the engine reported it."""
    recorded = RecordedHooks()
    expected = []
    for name in HOOK_NAMES:
        parameters = list(inspect.signature(getattr(Hooks, name)).parameters)[1:]
        args = tuple(f"{name}:{parameter}" for parameter in parameters)
        getattr(recorded, name)(*args)
        expected.append((name, args))
    # The calls cross to the Faust process inside a pickled frame.
    calls = pickle.loads(pickle.dumps(recorded.take()))
    target = EveryCall()
    replay(calls, target)
    assert target.calls == expected
    assert recorded.take() == [], "each report is taken once"
