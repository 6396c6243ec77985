"""The engine's report: labelled counts that add up, and that survive the socket."""

from __future__ import annotations

import pickle

from sinks.reports import FlushReport
from streams.engine.contract import BatchReport, Counted, Counts


def test_counts_are_summed_per_label() -> None:
    counts = Counts()
    counts.add(Counted.DEAD_LETTERED, "not_json")
    counts.add(Counted.LATE, "uni", count=2)
    counts.add(Counted.DEAD_LETTERED, "not_json")
    counts.add(Counted.DEAD_LETTERED, "unknown_tenant")
    counts.add(Counted.DUPLICATE)
    counts.add(Counted.CONSUMED, "engage.vle.clicks", "vle.click", count=5)
    counts.add(Counted.ALERT_RAISED, "inactivity", count=0)
    assert counts.of(Counted.DEAD_LETTERED) == {("not_json",): 2, ("unknown_tenant",): 1}
    assert counts.total(Counted.DEAD_LETTERED) == 3
    assert counts.of(Counted.LATE) == {("uni",): 2}
    assert counts.total(Counted.DUPLICATE) == 1
    assert counts.of(Counted.ALERT_RAISED) == {}, "nothing counted is not a count of 0"


def test_reports_merge_as_one_batch_retried_record_by_record_is_answered() -> None:
    first, second = BatchReport(), BatchReport()
    first.counts.add(Counted.CONSUMED, "engage.vle.clicks", "vle.click")
    first.flushes.append(FlushReport(rows={"activity": 1}))
    first.arrivals_ms, first.written_at_ms = [1_000], 2_000
    second.counts.add(Counted.CONSUMED, "engage.vle.clicks", "vle.click")
    second.counts.add(Counted.DEAD_LETTERED, "processing_failed")
    second.judged_through_ms = {"uni": 86_400_000}
    second.written_at_ms, second.students_in_state = 3_000, 7
    first.merge(second)
    assert first.counts.of(Counted.CONSUMED) == {("engage.vle.clicks", "vle.click"): 2}
    assert first.counts.total(Counted.DEAD_LETTERED) == 1
    assert first.judged_through_ms == {"uni": 86_400_000}
    assert (first.written_at_ms, first.students_in_state) == (3_000, 7)
    assert pickle.loads(pickle.dumps(first)) == first
