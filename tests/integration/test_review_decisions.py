"""A tutor's decisions move an alert on in the order they were made, whatever order they
reach the engine in; every decision is kept as the record of interventions."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from sinks import queries
from sinks.rows import ReviewQueueRow
from tests.support.events import event
from tests.support.inprocess import Clock, engine_on, records

pytestmark = pytest.mark.integration

RAISED_AT = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def test_a_decision_delivered_late_does_not_undo_a_newer_one(tmp_path: Path) -> None:
    engine = engine_on(tmp_path, Clock(RAISED_AT + timedelta(days=1)))
    sink = engine.sink
    sink.add(ReviewQueueRow(
        "alert-1", "uni-test", "s1", "t1", "inactivity", date(2026, 11, 19), "{}",
        "pending_review", RAISED_AT, RAISED_AT, sink.versions.next(),
    ))
    sink.flush_sync()

    def decision(kind: str, hours: int) -> dict[str, object]:
        return event("review.decision", "s1", RAISED_AT + timedelta(hours=hours),
                     alert_id="alert-1", decision=kind, tutor_id="t1")

    def status() -> str:
        found = sink.run_sync(lambda client: queries.alerts_by_id(client, ["alert-1"]))
        return str(found[0]["status"])

    async def run() -> list[str]:
        seen = []
        for offset, (kind, hours) in enumerate(
                [("contacted", 2), ("acknowledged", 1), ("referred", 3)], start=1):
            await engine.process(records(decision(kind, hours), first_offset=offset))
            seen.append(status())
        return seen

    try:
        seen = asyncio.run(run())
        kept = sink.run_sync(lambda client: client.query(
            "SELECT decision FROM review_decisions ORDER BY occurred_at").result_rows)
    finally:
        sink.close()
    assert seen == ["contacted", "contacted", "referred"]
    assert [row[0] for row in kept] == ["acknowledged", "contacted", "referred"]
