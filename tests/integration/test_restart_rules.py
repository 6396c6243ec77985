"""A worker restarted once everything was read still judges the days its state completed.

Event time is learnt from events; a worker restarted after the last one was processed has none
left to learn it from, and must take it from the students' state instead."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.topics import REVIEW_ALERTS
from streams.engine.contract import ConsumerView
from tests.integration.test_alerts import TENANT, active_day, history
from tests.support.events import event
from tests.support.inprocess import Clock, InProcessEngine, engine_on, records

pytestmark = pytest.mark.integration


def raised(engine: InProcessEngine) -> list[tuple[str, str, str]]:
    return sorted((m["student_id"], m["rule"], m["day"]) for m in engine.sent(REVIEW_ALERTS))


def test_a_worker_restarted_with_nothing_left_to_read_judges_the_open_days(
        tmp_path: Path) -> None:
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
    clock = Clock(datetime.now(tz=UTC))

    def run(folder: str, step: object) -> tuple[InProcessEngine, list[tuple[str, str, str]]]:
        (tmp_path / folder).mkdir(exist_ok=True)
        engine = engine_on(tmp_path / folder, clock)
        try:
            asyncio.run(step(engine))  # type: ignore[operator]
            return engine, raised(engine)
        finally:
            engine.sink.close()

    _, uninterrupted = run("uninterrupted", lambda p: p.process(records(*payloads)))
    expected = uninterrupted
    assert {rule for _, rule, _ in expected} >= {"engagement_drop", "attendance"}

    def read_all_but_judge_nothing(engine: InProcessEngine) -> object:
        # As a worker killed before it could tell that nothing more was waiting.
        return engine.process(records(*payloads), ConsumerView.unmeasured())

    before, first_life = run("restarted", read_all_but_judge_nothing)
    assert first_life == []

    def restarted_with_the_same_state(engine: InProcessEngine) -> object:
        engine.states = before.states
        return engine.tick()

    _, after_restart = run("restarted", restarted_with_the_same_state)
    assert after_restart == expected
