"""Scoring without Kafka: importing history from a file, and recomputing from storage.

Both run the very `Processor` and `scoring/` code the worker runs, so their rows equal the
stream's. They need the ClickHouse folder to themselves (stop the worker first when it is
embedded) or a ClickHouse server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from schemas.topics import TOPIC_FOR_TYPE
from scoring.engine import measure_days
from scoring.sessionize import ActivityState, rebuild_from
from scoring.student import StudentState
from scoring.timebase import LocalCalendar, from_ms
from sinks import queries
from sinks.rows import upsert_measures, upsert_scores
from streams.engine.local import Processor, RawRecord
from streams.engine.sink import open_sink
from streams.engine.students import MemoryStates
from streams.errors import EngineError
from streams.settings import Settings

CHUNK = 5000
BACKFILL_TOPIC = "engage.backfill"


def _records(path: Path) -> Iterator[RawRecord]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            value = line.rstrip(b"\r\n")
            if not value.strip():
                continue
            topic, key = BACKFILL_TOPIC, None
            try:
                event = json.loads(value)
                topic = TOPIC_FOR_TYPE.get(event.get("type"), BACKFILL_TOPIC)
                key = f"{event['tenant']}:{event['student_id']}".encode()
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
            yield RawRecord(topic=topic, partition=0, offset=number, key=key, value=value)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


async def _backfill(settings: Settings, path: Path, progress: bool) -> dict[str, Any]:
    from tqdm import tqdm

    sink = open_sink(settings)
    processor = Processor(
        tenants=settings.tenants, sink=sink, states=MemoryStates(),
        lateness_seconds=settings.lateness_seconds, max_future_hours=settings.max_future_hours,
        rules_settle_seconds=settings.rules_settle_seconds,
    )
    totals: dict[str, Any] = {"events": 0, "accepted": 0, "dead_lettered": 0, "late": 0,
                              "duplicates": 0, "without_consent": 0, "alerts": 0}
    bar = tqdm(total=_count_lines(path), unit="ev", disable=not progress, file=None)
    chunk: list[RawRecord] = []

    async def run_chunk() -> None:
        outcome = await processor.process(chunk)
        for name in ("accepted", "dead_lettered", "late", "duplicates", "without_consent",
                     "alerts"):
            totals[name] += getattr(outcome, name)
        totals["events"] += len(chunk)
        bar.update(len(chunk))
        chunk.clear()

    try:
        for record in _records(path):
            chunk.append(record)
            if len(chunk) >= CHUNK:
                await run_chunk()
        if chunk:
            await run_chunk()
        tail = await processor.tick()
        totals["alerts"] += tail.alerts
    finally:
        bar.close()
        sink.close()
    return totals


def backfill_file(settings: Settings, path: Path, *, progress: bool = True) -> dict[str, Any]:
    if not path.exists():
        raise EngineError(f"no such file: {path}")
    return asyncio.run(_backfill(settings, path, progress))


def recompute(settings: Settings, tenant: str, first_day: date) -> dict[str, Any]:
    """Recompute measures and scores of `tenant` from `first_day` on out of stored activity,
    with the coefficients configured now."""
    if tenant not in settings.tenants:
        raise EngineError(f"unknown tenant {tenant!r}")
    config = settings.tenants[tenant]
    calendar = LocalCalendar(config.timezone)
    sink = open_sink(settings)
    since = from_ms(calendar.start_ms(first_day))
    now_ms = int(since.timestamp() * 1000)
    try:
        students = sink.run_sync(lambda c: queries.students_with_activity(c, tenant, since))
        # Rows reach as far as the worker had written them: the tenant's current day then.
        today = sink.run_sync(lambda c: queries.latest_score_day(c, tenant))
        measures_written = 0
        for student_id, college in students:
            state = StudentState(tenant, student_id, college=college or None)
            prior = sink.run_sync(partial(
                queries.daily_scores_between, tenant=tenant, student_id=student_id,
                first=first_day - timedelta(days=6), last=first_day - timedelta(days=1)))
            state.daily_scores.update(prior)
            # Rows before `first_day` stay as they are: their windows reach past `prior`.
            state.scored_through = first_day - timedelta(days=1)
            stored = sink.run_sync(partial(queries.engagement_activity, tenant=tenant,
                                           student_id=student_id, since=since))
            state.activity = ActivityState()
            days = rebuild_from(state.activity, first_day, stored, calendar=calendar)
            newest_ms = max((a.at_ms for a in stored), default=None)
            clock_ms = max(now_ms, newest_ms or now_ms) + 10 * 60_000
            newest = calendar.day_of(newest_ms) if newest_ms is not None else None
            measures, scores = measure_days(
                state, days, config, clock_ms=clock_ms, calendar=calendar,
                today=max((d for d in (today, newest) if d is not None), default=None))
            upsert_measures(sink, tenant, student_id, measures)
            upsert_scores(sink, tenant, student_id, scores)
            measures_written += len(measures)
            if sink.pending_rows() > 20_000:
                sink.flush_sync()
        sink.flush_sync()
    finally:
        sink.close()
    return {"tenant": tenant, "from": first_day.isoformat(), "students": len(students),
            "days_recomputed": measures_written}
