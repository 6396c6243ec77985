"""The engine in process, on storage in memory: what a batch reports, and what a failed batch
leaves behind (nothing counted, nothing sent, state as it was)."""

from __future__ import annotations

import asyncio
import json
import pickle
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas.topics import DEADLETTER, SCORES
from scoring.config import TenantsFile
from scoring.student import StudentState
from sinks.rows import ReviewQueueRow
from streams.engine.contract import BatchReport, Counted, Kept, RawRecord
from streams.engine.local import LocalEngine
from streams.engine.students import ChangelogStates, MemoryStates, StateStore
from tests.conftest import TEST_TENANTS
from tests.support.events import event
from tests.support.inprocess import Clock, records
from tests.support.memory_sink import MemorySink, MemoryStored

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TENANTS = dict(TenantsFile.model_validate(TEST_TENANTS).tenants)


class BrokenForOneStudent(MemoryStates):
    def get(self, key: str) -> StudentState | None:
        if key.endswith(":poison"):
            raise ValueError("snapshot cannot be decoded")
        return super().get(key)


def engine(states: StateStore | None = None) -> tuple[LocalEngine, MemorySink, Kept]:
    sink, sent = MemorySink(), Kept()
    local = LocalEngine(tenants=TENANTS, sink=sink, stored=MemoryStored(sink),
                        states=MemoryStates() if states is None else states, publisher=sent,
                        wall_clock_ms=Clock(NOW))
    return local, sink, sent


def clicks(student: str, *minutes: int) -> list[dict[str, object]]:
    start = NOW - timedelta(hours=2)
    return [event("vle.click", student, start + timedelta(minutes=m), module="BIO1001")
            for m in minutes]


def test_a_batch_reports_its_counts_by_label_once_written() -> None:
    local, _sink, sent = engine()
    first, second = clicks("s1", 0, 2)
    roster = [event("roster.student", s, NOW - timedelta(days=1), college="CLES")
              for s in ("s1", "s2")]
    batch = [
        *records(*roster, first, second, dict(second), *clicks("s2", 1)),
        RawRecord("engage.vle.clicks", 0, 50, b"uni-test:s3", b"{not json"),
        *records(event("vle.click", "s4", NOW, tenant="elsewhere", module="BIO1001"),
                 first_offset=60),
    ]
    report = asyncio.run(local.batch(batch))

    assert report.counts.of(Counted.CONSUMED) == {("engage.vle.clicks", "vle.click"): 4,
                                                  ("engage.roster", "roster.student"): 2}
    assert report.counts.of(Counted.DEAD_LETTERED) == {("not_json",): 1, ("unknown_tenant",): 1}
    assert report.counts.total(Counted.DUPLICATE) == 1
    scores = [m for m in sent.messages if m.topic == SCORES]
    assert scores
    assert report.counts.total(Counted.SCORE_PUBLISHED) == len(scores)
    assert len([m for m in sent.messages if m.topic == DEADLETTER]) == 2
    assert sum(f.rows.get("activity", 0) for f in report.flushes) == 4
    assert report.students_in_state == 2
    # The report crosses from the engine process to the Faust process as it is.
    assert pickle.loads(pickle.dumps(report)) == report


def test_a_batch_that_cannot_be_written_counts_nothing_sends_nothing_and_changes_nothing(
        ) -> None:
    local, sink, sent = engine()
    asyncio.run(local.process(records(*clicks("s1", 0))))
    before = local.states.get("uni-test:s1")
    assert before is not None
    kept = before.to_dict()
    sent.take()
    # The batch's events are written (its first flush); its scores are not (its second).
    sink.failing = {sink.flushes + 2}
    with pytest.raises(ConnectionError):
        asyncio.run(local.process(records(*clicks("s1", 3, 4), first_offset=10)))
    assert sent.messages == []
    state = local.states.get("uni-test:s1")
    assert state is not None
    assert state.to_dict() == kept

    report = asyncio.run(local.process(records(*clicks("s1", 3, 4), first_offset=10)))
    assert report.counts.of(Counted.CONSUMED) == {("engage.vle.clicks", "vle.click"): 2}
    # Rows the failed attempt did write are reported, with the next answer.
    assert sum(f.rows.get("activity", 0) for f in report.flushes) == 4


def test_retried_record_by_record_every_count_is_kept_once() -> None:
    """A batch that fails is retried one record at a time; its late, duplicate and
    without-consent counts come through the retry as its consumed ones do."""
    local, _, sent = engine(BrokenForOneStudent())
    first = clicks("s1", 0)[0]
    batch = records(
        first, dict(first), *clicks("poison", 1),
        event("vle.click", "keen", NOW - timedelta(hours=1), tenant="optin-test",
              module="BIO1001"))
    report = asyncio.run(local.batch(batch))

    assert report.counts.of(Counted.CONSUMED) == {("engage.vle.clicks", "vle.click"): 3}
    assert report.counts.of(Counted.DEAD_LETTERED) == {("processing_failed",): 1}
    assert report.counts.total(Counted.DUPLICATE) == 1
    assert report.counts.of(Counted.WITHOUT_CONSENT) == {("optin-test",): 1}
    assert len([m for m in sent.messages if m.topic == DEADLETTER]) == 1


def test_a_day_counts_as_judged_once_its_batch_is_written() -> None:
    local, _, _ = engine()
    report = asyncio.run(local.batch(records(
        event("roster.student", "s1", NOW - timedelta(days=3), college="CLES"),
        *clicks("s1", 0))))
    assert set(report.judged_through_ms) == set(TENANTS)
    judged = report.judged_through_ms["uni-test"]
    assert judged <= int(NOW.timestamp() * 1000)
    again = asyncio.run(local.tick())
    assert again.judged_through_ms == {}, "the same days are not reported again"
    assert isinstance(again, BatchReport)


def test_a_restart_restores_event_time_and_the_days_judged_and_carried() -> None:
    """How far the engine had got is snapshotted with the students, in the changelog: an
    engine restored from it is where the first one was, before any new event arrives."""
    written: list[tuple[int | None, bytes, bytes]] = []

    async def send(records: list[tuple[int | None, bytes, bytes]]) -> None:
        written.extend(records)

    first, _, _ = engine(ChangelogStates(send))
    start = NOW - timedelta(days=5)
    asyncio.run(first.batch(records(
        event("roster.student", "s1", start - timedelta(days=1), college="CLES"),
        *(event("vle.click", "s1", start + timedelta(days=k), module="BIO1001")
          for k in range(4)))))
    assert first.swept_day
    assert first.scores_through

    restored = ChangelogStates(send)
    restored.apply_restored([(orjson.loads(key), partition or 0, value)
                             for partition, key, value in written])
    swept = {tenant: day.isoformat() for tenant, day in first.swept_day.items()}
    assert [snapshot["swept_day"] for snapshot in restored.progress().values()] == [swept]
    second, _, _ = engine(restored)
    asyncio.run(second.tick())
    assert second.progress.newest_ms == first.progress.newest_ms
    assert second.progress.next_offset == first.progress.next_offset
    assert second.swept_day == first.swept_day
    assert second.scores_through == first.scores_through
    state = second.states.get("uni-test:s1")
    assert state is not None
    assert state.to_dict() == first.states.get("uni-test:s1").to_dict()  # type: ignore[union-attr]


def test_a_decision_moves_only_an_alert_of_its_own_tenant_and_student() -> None:
    local, sink, sent = engine()
    day = (NOW - timedelta(days=2)).date()
    for alert_id, tenant, student in (("a1", "uni-test", "s1"), ("a2", "uni-test", "s2"),
                                      ("b1", "optin-test", "k1")):
        sink.add(ReviewQueueRow(alert_id, tenant, student, "t1", "inactivity", day, "{}",
                                "pending_review", NOW - timedelta(days=1),
                                NOW - timedelta(days=1), sink.versions.next()))
    asyncio.run(sink.flush())

    def decision(alert_id: str, minutes: int) -> dict[str, object]:
        return event("review.decision", "s1", NOW - timedelta(minutes=minutes),
                     alert_id=alert_id, decision="dismissed", tutor_id="t1")

    report = asyncio.run(local.batch(records(
        decision("a2", 30), decision("b1", 20), decision("no-such-alert", 10),
        decision("a1", 5))))

    queue = {row.alert_id: row.status for row in sink.rows("review_queue")}  # type: ignore[union-attr]
    assert queue == {"a1": "dismissed", "a2": "pending_review", "b1": "pending_review"}
    assert [row.alert_id for row in sink.rows("review_decisions")] == ["a1"]  # type: ignore[union-attr]
    assert report.counts.of(Counted.DEAD_LETTERED) == {("alert_student_mismatch",): 1,
                                                       ("alert_not_found",): 2}
    assert report.counts.of(Counted.CONSUMED) == {("engage.review.decisions",
                                                   "review.decision"): 1}
    letters = [json.loads(m.value) for m in sent.messages if m.topic == DEADLETTER]
    assert sorted(letter["reason"] for letter in letters) == [
        "alert_not_found", "alert_not_found", "alert_student_mismatch"]
    # Another tenant's alert is answered as one that does not exist.
    assert {letter["detail"] for letter in letters if letter["reason"] == "alert_not_found"} == {
        "no such alert for this tenant"}
