"""Scoring without Kafka: importing history from a file, and recomputing from storage.

Both run the very code the worker runs (`LocalEngine`, and the step a late event takes), so
their rows equal the stream's. They need the ClickHouse folder to themselves (stop the worker
first when it is embedded) or a ClickHouse server.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from schemas.topics import TOPIC_FOR_TYPE
from scoring import steps
from scoring.student import StudentState
from scoring.timebase import LocalCalendar, from_ms
from sinks import queries
from sinks.rows import Row, measures_rows, scores_rows
from sinks.stored import StoredRecords
from sinks.writer import ClickHouseSink
from streams.cli.worker_state import read_states, write_states
from streams.engine.contract import Counted, Counts, RawRecord
from streams.engine.local import LocalEngine
from streams.engine.sink import open_sink
from streams.engine.students import MemoryStates
from streams.errors import EngageError
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
    engine = LocalEngine(
        tenants=settings.tenants, sink=sink, stored=StoredRecords(sink), states=MemoryStates(),
        lateness_seconds=settings.lateness_seconds, max_future_hours=settings.max_future_hours,
        rules_settle_seconds=settings.rules_settle_seconds,
    )
    counts = Counts()
    events = 0
    bar = tqdm(total=_count_lines(path), unit="ev", disable=not progress, file=None)
    chunk: list[RawRecord] = []

    async def run_chunk() -> None:
        nonlocal events
        counts.merge((await engine.process(chunk)).counts)
        events += len(chunk)
        bar.update(len(chunk))
        chunk.clear()

    try:
        for record in _records(path):
            chunk.append(record)
            if len(chunk) >= CHUNK:
                await run_chunk()
        if chunk:
            await run_chunk()
        counts.merge((await engine.tick()).counts)
    finally:
        bar.close()
        sink.close()
    return {"events": events, "accepted": counts.total(Counted.CONSUMED),
            "dead_lettered": counts.total(Counted.DEAD_LETTERED),
            "late": counts.total(Counted.LATE), "duplicates": counts.total(Counted.DUPLICATE),
            "without_consent": counts.total(Counted.WITHOUT_CONSENT),
            "alerts": counts.total(Counted.ALERT_RAISED)}


def backfill_file(settings: Settings, path: Path, *, progress: bool = True) -> dict[str, Any]:
    if not path.exists():
        raise EngageError(f"no such file: {path}")
    return asyncio.run(_backfill(settings, path, progress))


def recompute(settings: Settings, tenant: str, first_day: date, *,
              worker_state: bool = True) -> dict[str, Any]:
    """Recompute measures and scores of `tenant` from `first_day` on out of stored activity,
    with the coefficients configured now: the very step a late event takes in the stream
    (`scoring.steps.rescore_from`). With `worker_state`, the workers' students' state is
    rescored too and written back to their changelog, so that a worker started afterwards
    averages the new daily scores and not the ones it held before."""
    if tenant not in settings.tenants:
        raise EngageError(f"unknown tenant {tenant!r}")
    return asyncio.run(_recompute(settings, tenant, first_day, worker_state))


async def _recompute(settings: Settings, tenant: str, first_day: date, worker_state: bool
                     ) -> dict[str, Any]:
    config = settings.tenants[tenant]
    calendar = LocalCalendar(config.timezone)
    held = await read_states(settings, tenant) if worker_state else {}
    sink = open_sink(settings)
    since = from_ms(calendar.start_ms(first_day))
    now_ms = int(time.time() * 1000)
    changed: list[StudentState] = []
    try:
        students = await sink.run(lambda c: queries.students_with_activity(c, tenant, since))
        # Rows reach as far as the workers had written them: the tenant's day then.
        today = await sink.run(lambda c: queries.latest_score_day(c, tenant))
        measures_written = 0
        for student_id, college in students:
            state = held.get(f"{tenant}:{student_id}")
            if state is None:
                state = await _state_from_rows(sink, tenant, student_id, college, first_day)
            else:
                changed.append(state)
            stored = await sink.run(partial(queries.engagement_activity, tenant=tenant,
                                            student_id=student_id, since=since))
            newest = max((calendar.day_of(a.at_ms) for a in stored), default=None)
            reach = max((d for d in (today, newest) if d is not None), default=None)
            measures, scores = steps.rescore_from(state, first_day, stored, config, calendar,
                                                  now_ms=now_ms, today=reach)
            rows: list[Row] = [*measures_rows(tenant, student_id, measures, sink.versions.next),
                               *scores_rows(tenant, student_id, scores, sink.versions.next)]
            for row in rows:
                sink.add(row)
            measures_written += len(measures)
            if sink.pending_rows() > 20_000:
                await sink.flush()
        await sink.flush()
    finally:
        sink.close()
    # Once the rows are written: a worker restored from the new state finds its rows there.
    if changed:
        await write_states(settings, changed)
    return {"tenant": tenant, "from": first_day.isoformat(), "students": len(students),
            "days_recomputed": measures_written, "worker_states_updated": len(changed)}


async def _state_from_rows(sink: ClickHouseSink, tenant: str, student_id: str,
                           college: str | None, first_day: date) -> StudentState:
    """A student no worker holds (history imported with `backfill`): their scores of the six
    days before `first_day` from storage, for the averages that reach back to them. Rows
    before `first_day` stay as they are."""
    state = StudentState(tenant, student_id, college=college or None)
    state.daily_scores.update(await sink.run(partial(
        queries.daily_scores_between, tenant=tenant, student_id=student_id,
        first=first_day - timedelta(days=6), last=first_day - timedelta(days=1))))
    state.scored_through = first_day - timedelta(days=1)
    return state
