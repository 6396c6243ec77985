"""Withdrawal reaches everything engagement-related, dead letters included, and special
category data is not stored even when the roster event carrying it cannot be accepted. The
worker's batch step on the real ClickHouse engine."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sinks import queries
from sinks.rows import ReviewQueueRow
from streams.engine.contract import RawRecord
from tests.support.events import event
from tests.support.inprocess import Clock, engine_on, records

pytestmark = pytest.mark.integration

TENANT = "optin-test"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEY = f"{TENANT}:keen".encode()


def unreadable(topic: str, payload: dict[str, Any], offset: int) -> RawRecord:
    return RawRecord(topic, 0, offset, KEY, json.dumps(payload).encode())


def test_withdrawal_deletes_engagement_alerts_and_dead_letters_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    engine = engine_on(tmp_path, Clock(START + timedelta(days=1)))
    sink = engine.sink
    bad_click = event("vle.click", "keen", START, tenant=TENANT, module="M" * 40)
    bad_roster = event("roster.student", "keen", START, tenant=TENANT, ethnicity="private")
    for rule in ("engagement_drop", "attendance"):
        sink.add(ReviewQueueRow(
            f"alert-{rule}", TENANT, "keen", "t1", rule, date(2026, 11, 22), "{}",
            "pending_review", START, START, sink.versions.next(),
        ))

    def query(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in sink.run_sync(lambda c: c.query(sql).result_rows)]

    async def run() -> tuple[list[tuple[Any, ...]], dict[str, list[dict[str, Any]]]]:
        await engine.process([
            *records(
                event("roster.student", "keen", START - timedelta(days=9), tenant=TENANT,
                      college="CLES", tutor_id="t1"),
                event("consent.changed", "keen", START - timedelta(days=8), tenant=TENANT,
                      granted=True),
                event("vle.click", "keen", START, tenant=TENANT, module="BIO1001"),
                event("attendance.swipe", "keen", START, tenant=TENANT, session_id="BIO-1"),
            ),
            unreadable("engage.vle.clicks", bad_click, 10),
            unreadable("engage.roster", bad_roster, 11),
        ])
        stored_letters = query("SELECT topic, original, detail FROM dead_letters FINAL "
                               "ORDER BY topic")
        await engine.process(records(
            event("consent.changed", "keen", START + timedelta(hours=1), tenant=TENANT,
                  granted=False), first_offset=20))
        held = sink.run_sync(lambda c: queries.everything_about(c, TENANT, "keen"))
        return stored_letters, held

    try:
        stored_letters, held = asyncio.run(run())
        audit = query("SELECT deleted_rows FROM privacy_audit")
    finally:
        sink.close()

    roster_letter = next(letter for letter in stored_letters if letter[0] == "engage.roster")
    assert "ethnicity" not in roster_letter[1]
    assert "private" not in roster_letter[1]
    assert "removed before storing: ethnicity" in roster_letter[2]
    assert [letter[0] for letter in stored_letters] == ["engage.roster", "engage.vle.clicks"]

    assert held["activity"] == held["measures"] == held["scores"] == []
    assert [a["rule"] for a in held["alerts"]] == ["attendance"]
    assert [d["topic"] for d in held["dead_letters"]] == ["engage.roster"]
    assert len(held["attendance"]) == 1
    deleted = audit[0][0]
    assert (deleted["review_queue"], deleted["dead_letters"], deleted["activity"]) == (1, 1, 1)
