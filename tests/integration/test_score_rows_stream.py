"""Which score rows the worker's batch step writes and publishes: up to the tenant's current
day only, carried forward as that day moves on (SPEC "Score": the 7-day moving average)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.topics import SCORES, VLE_CLICKS
from streams.engine.contract import ConsumerView, Counted
from tests.support.clickhouse import rows
from tests.support.events import event
from tests.support.inprocess import Clock, engine_on, records

pytestmark = pytest.mark.integration


def published_days(published: list[dict[str, Any]], student: str) -> list[date]:
    return sorted(date.fromisoformat(m["date"]) for m in published if m["student_id"] == student)


def test_rows_reach_the_current_day_and_follow_it_for_a_student_gone_quiet(
        tmp_path: Path) -> None:
    day = (datetime.now(tz=UTC) - timedelta(days=10)).replace(hour=10, minute=0, second=0,
                                                              microsecond=0)
    roster = [event("roster.student", s, day - timedelta(days=1), college="CLES")
              for s in ("quiet", "busy")]
    clicks = [event("vle.click", "quiet", day + timedelta(minutes=m), module="BIO1001")
              for m in (0, 2, 4)]
    later = event("vle.click", "busy", day + timedelta(days=3), module="BIO1001")
    engine = engine_on(tmp_path, Clock(datetime.now(tz=UTC)))
    try:
        asyncio.run(engine.process(records(*roster, *clicks)))
        first = engine.sent(SCORES)
        asyncio.run(engine.process(records(later, first_offset=100)))
        second = engine.sent(SCORES)
        stored = engine.sink.run_sync(lambda c: rows(
            c, "SELECT day, daily_score, score_7d FROM daily_scores FINAL "
               "WHERE student_id = 'quiet' ORDER BY day"))
    finally:
        engine.sink.close()

    assert published_days(first, "quiet") == [day.date()], "no row for a day not reached"
    carried = [day.date() + timedelta(days=k) for k in (1, 2, 3)]
    assert published_days(second, "quiet") == carried
    assert [row[0] for row in stored] == [day.date(), *carried]
    assert stored[0][1] > 0
    assert [row[1] for row in stored[1:]] == [0.0, 0.0, 0.0]
    assert {round(row[2], 9) for row in stored} == {round(stored[0][1] / 7, 9)}


def test_a_topic_read_ahead_does_not_carry_rows_past_the_clicks_still_waiting(
        tmp_path: Path) -> None:
    """A worker catching up reads the small topics days ahead of the clicks. The current day
    is where every partition with messages waiting has got to, so a student's rows are not
    written (and then rewritten) for days their clicks have not reached yet; the measures of
    the day read ahead are written at once, its score row once the clicks get there."""
    day = (datetime.now(tz=UTC) - timedelta(days=20)).replace(hour=10, minute=0, second=0,
                                                              microsecond=0)
    ahead = day + timedelta(days=5)
    engine = engine_on(tmp_path, Clock(datetime.now(tz=UTC)))
    clicks_waiting = ConsumerView(highwaters={(VLE_CLICKS, 0): 10_000})
    first_batch = records(
        event("roster.student", "s1", day - timedelta(days=1), college="CLES"),
        event("vle.click", "s1", day, module="BIO1001"),
        event("app.menu_choice", "s1", ahead, menu_item="timetable"))
    try:
        report = asyncio.run(engine.process(first_batch, clicks_waiting))
        first = engine.sent(SCORES)
        rest = [event("vle.click", "s1", day + timedelta(days=k), module="BIO1001")
                for k in range(1, 6)]
        asyncio.run(engine.process(records(*rest, first_offset=100)))
        second = engine.sent(SCORES)
        measured = engine.sink.run_sync(lambda c: rows(
            c, "SELECT day FROM daily_measures FINAL WHERE student_id = 's1' ORDER BY day"))
    finally:
        engine.sink.close()

    assert report.counts.total(Counted.DEAD_LETTERED) == 0
    assert published_days(first, "s1") == [day.date()]
    assert ahead.date() in [row[0] for row in measured]
    assert published_days(second, "s1") == [day.date() + timedelta(days=k) for k in range(6)]
