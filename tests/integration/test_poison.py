"""A record that makes processing fail is dead-lettered; the rest of its batch goes through."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from clickhouse_connect.driver.client import Client

from scoring.student import StudentState
from sinks.clickhouse import connect, migrate
from sinks.writer import ClickHouseSink
from streams.engine.contract import Counted, RawRecord
from streams.engine.students import MemoryStates
from streams.settings import load_tenants
from tests.support.clickhouse import rows
from tests.support.events import event
from tests.support.inprocess import InProcessEngine

pytestmark = pytest.mark.integration


class BrokenForOneStudent(MemoryStates):
    """State that cannot be loaded for one student, as after a corrupted snapshot."""

    def get(self, key: str) -> StudentState | None:
        if key.endswith(":poison"):
            raise ValueError("snapshot cannot be decoded")
        return super().get(key)


def test_a_poison_record_is_dead_lettered_and_its_batch_survives(tenant_file: Path,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "clickhouse"

    def open_client():  # type: ignore[no-untyped-def]
        client = connect(f"chdb://{path}", "engage")
        migrate(client)
        return client

    sink = ClickHouseSink(open_client)
    engine = InProcessEngine(tenants=load_tenants(tenant_file), sink=sink,
                                states=BrokenForOneStudent())
    at = datetime.now(tz=UTC) - timedelta(hours=1)
    records = [
        RawRecord("engage.vle.clicks", 0, offset, f"uni-test:{student}".encode(),
                  json.dumps(event("vle.click", student, at, module="BIO1001")).encode())
        for offset, student in enumerate(["ok1", "poison", "ok2"], start=1)
    ]
    # Ahead of the poison: dead-lettered in the failed attempt at the batch, and again after.
    records.insert(0, RawRecord("engage.vle.clicks", 0, 0, b"uni-test:ok0", b"{not json"))
    try:
        report = asyncio.run(engine.batch(records))
        letters = sink.run_sync(lambda c: rows(c, "SELECT offset, reason, detail "
                                                  "FROM dead_letters FINAL ORDER BY offset"))
        stored = sink.run_sync(lambda c: rows(c, "SELECT student_id FROM activity FINAL "
                                                 "ORDER BY student_id"))
    finally:
        sink.close()
    assert report.counts.total(Counted.DEAD_LETTERED) == 2
    assert len(engine.sent("engage.deadletter")) == 2
    assert [letter[:2] for letter in letters] == [(0, "not_json"), (2, "processing_failed")]
    assert letters[1][2] == "ValueError: snapshot cannot be decoded"
    assert stored == [("ok1",), ("ok2",)]
    # The failed attempt at the whole batch counted nothing; each event counts once.
    assert report.counts.total(Counted.CONSUMED) == 2
    assert report.counts.of(Counted.DEAD_LETTERED) == {("processing_failed",): 1,
                                                       ("not_json",): 1}


class FlakyClient:
    """The real ClickHouse client, with inserts refused while the 'server' is down."""

    def __init__(self, client: Any, failures: int) -> None:
        self._client = client
        self.failures = failures
        self.refused = 0

    def insert(self, *args: object, **kwargs: object) -> object:
        if self.refused < self.failures:
            from clickhouse_connect.driver.exceptions import OperationalError

            self.refused += 1
            raise OperationalError("connection refused")
        return self._client.insert(*args, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)


def test_failed_writes_are_retried_and_the_batch_waits_for_them(tenant_file: Path,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "clickhouse"
    real = connect(f"chdb://{path}", "engage")
    migrate(real)
    flaky = FlakyClient(real, failures=4)
    errors: list[tuple[str, str]] = []
    # Stands in for the real client: every call but `insert` goes straight through.
    sink = ClickHouseSink(lambda: cast(Client, flaky), retry_max_seconds=0.5,
                          on_error=lambda table, kind: errors.append((table, kind)))
    engine = InProcessEngine(tenants=load_tenants(tenant_file), sink=sink)
    at = datetime.now(tz=UTC) - timedelta(hours=1)
    records = [
        RawRecord("engage.vle.clicks", 0, offset, b"uni-test:w1",
                  json.dumps(event("vle.click", "w1", at + timedelta(minutes=offset),
                                   module="BIO1001")).encode())
        for offset in range(3)
    ]
    try:
        outcome = asyncio.run(engine.process(records))
        stored = sink.run_sync(lambda c: rows(c, "SELECT count() FROM activity FINAL"))
        measured = sink.run_sync(lambda c: rows(c, "SELECT ele_minutes FROM daily_measures "
                                                   "FINAL"))
    finally:
        sink.close()
    assert flaky.refused == 4
    assert errors[0][1] == "retryable"
    assert outcome.counts.total(Counted.CONSUMED) == 3
    assert stored == [(3,)]
    assert measured == [(4.0,)]  # 1 + 1 + the last click's 2 minutes


class FailsToSaveOne(MemoryStates):
    """State that cannot be saved for one student: the batch fails after its rules ran."""

    def put(self, state: StudentState) -> None:
        if state.student_id == "poison":
            raise ValueError("snapshot cannot be written")
        super().put(state)


def test_a_batch_failing_after_its_rules_ran_is_retried_from_where_it_started(
        tmp_path: Path) -> None:
    """Retried record by record over half-applied state, the batch would find its days
    already judged and the alerts it raised (then discarded) would never be published."""
    from schemas.topics import REVIEW_ALERTS
    from tests.integration.test_alerts import TENANT, active_day, history
    from tests.support.inprocess import Clock, engine_on, records

    start = (datetime.now(tz=UTC) - timedelta(days=31)).replace(hour=9, minute=0, second=0,
                                                                 microsecond=0)
    payloads = [
        *(event("roster.student", s, start - timedelta(days=1), tenant=TENANT, college="CLES",
                tutor_id="t-ada") for s in ("steady", "dropper", "private")),
        *(event("consent.changed", s, start - timedelta(days=1), tenant=TENANT, granted=True)
          for s in ("steady", "dropper")),
        *history(30, start),
        *active_day("steady", start + timedelta(days=30, hours=-1)),
    ]
    poison = event("vle.click", "poison", start + timedelta(days=30), tenant=TENANT,
                   module="BIO1001")
    clock = Clock(datetime.now(tz=UTC))

    def published_alerts(folder: str, batch: list[dict[str, Any]], isolating: bool
                         ) -> tuple[list[tuple[str, str, str]], list[tuple[Any, ...]],
                                    dict[str, int]]:
        (tmp_path / folder).mkdir()
        engine = engine_on(tmp_path / folder, clock)
        if isolating:
            engine.states = FailsToSaveOne()
        step = engine.batch if isolating else engine.process
        try:
            report = asyncio.run(step(records(*batch)))
            stored = engine.sink.run_sync(lambda c: rows(
                c, "SELECT student_id, rule, day FROM review_queue FINAL ORDER BY alert_id"))
        finally:
            engine.sink.close()
        alerts = sorted((m["student_id"], m["rule"], m["day"])
                        for m in engine.sent(REVIEW_ALERTS))
        return alerts, stored, {labels[0]: n for labels, n in
                                report.counts.of(Counted.ALERT_RAISED).items()}

    expected = published_alerts("clean", payloads, isolating=False)
    assert {rule for _, rule, _ in expected[0]} >= {"engagement_drop", "attendance"}
    # Alerts counted in the metrics too: once each, not again for the retried batch.
    assert sum(expected[2].values()) == len(expected[0])
    assert published_alerts("poisoned", [*payloads, poison], isolating=True) == expected


def test_a_rollover_batch_that_fails_is_retried_from_the_state_before_it(tmp_path: Path) -> None:
    """Students a batch only carries forward and judges keep a lighter rollback copy (their
    activity state is shared with it): after a failure they must still be exactly as before."""
    from schemas.topics import REVIEW_ALERTS
    from tests.integration.test_alerts import TENANT, active_day, history
    from tests.support.inprocess import Clock, engine_on, records

    start = (datetime.now(tz=UTC) - timedelta(days=31)).replace(hour=9, minute=0, second=0,
                                                                 microsecond=0)
    term = [
        *(event("roster.student", s, start - timedelta(days=1), tenant=TENANT, college="CLES",
                tutor_id="t-ada") for s in ("steady", "dropper", "private")),
        *(event("consent.changed", s, start - timedelta(days=1), tenant=TENANT, granted=True)
          for s in ("steady", "dropper")),
        *history(30, start),
    ]
    # Only "steady" has events the next day: the others are carried forward and judged.
    next_day = active_day("steady", start + timedelta(days=31))
    poison = event("vle.click", "poison", start + timedelta(days=31, hours=3), tenant=TENANT,
                   module="BIO1001")
    clock = Clock(datetime.now(tz=UTC))

    def after_rollover(folder: str, isolating: bool) -> tuple[Any, ...]:
        (tmp_path / folder).mkdir()
        engine = engine_on(tmp_path / folder, clock)
        saved = engine.states = FailsToSaveOne()
        try:
            asyncio.run(engine.process(records(*term)))
            batch = [*next_day, poison] if isolating else next_day
            engine.sent(REVIEW_ALERTS)  # the term's alerts
            step = engine.batch if isolating else engine.process
            asyncio.run(step(records(*batch, first_offset=len(term) + 1)))
            stored = engine.sink.run_sync(lambda c: rows(
                c, "SELECT student_id, rule, day FROM review_queue FINAL ORDER BY alert_id"))
        finally:
            engine.sink.close()
        alerts = sorted((m["student_id"], m["rule"], m["day"])
                        for m in engine.sent(REVIEW_ALERTS))
        states = {s.key: s.to_dict() for s in saved.states() if s.student_id != "poison"}
        return alerts, stored, states

    expected = after_rollover("clean", isolating=False)
    # The rollover raised alerts for students it only judged.
    assert {student for student, _, _ in expected[0]} - {"steady"}
    assert after_rollover("poisoned", isolating=True) == expected
