"""The engine's batch step, shared by the Faust worker and `engage backfill`.

One call takes a batch of raw Kafka records and: dead-letters what it cannot accept, keeps
consent, roster, attendance and decisions, gates engagement activity on consent, stores it,
feeds it to the sessionizer, refolds days touched by late events from storage, and writes the
changed measures, scores and alerts. Writes are flushed before the call returns, so the caller
may commit the batch's offsets afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from schemas.decode import DeadLetterReason, Rejection, decode_event
from schemas.events import Event
from schemas.records import DeadLetterRecord, ReviewAlert, ScoreUpdate
from schemas.topics import CONSENT, DEADLETTER, REVIEW_ALERTS, ROSTER, SCORES
from scoring.alerts import ENGAGEMENT_RULES, exempt, forget_rules, resolve
from scoring.config import TenantConfig
from scoring.consent import ConsentTransition, allows, apply_change
from scoring.engine import (
    RaisedAlert,
    ScoreRow,
    carry_due,
    carry_forward,
    days_to_evaluate,
    evaluate_day,
    last_completed_day,
    measure_days,
)
from scoring.measures import KIND_OF_EVENT_TYPE, Activity
from scoring.roster_policy import drop_reason, filter_roster_fields
from scoring.rules import AttendanceMark
from scoring.sessionize import apply, last_click_counted, last_click_ms, prune, rebuild_from
from scoring.student import StudentState
from scoring.timebase import LocalCalendar, from_ms, to_ms
from sinks import queries
from sinks.rows import activity_row, alert_row, upsert_measures, upsert_scores
from sinks.writer import ClickHouseSink, FlushReport
from streams.engine.contract import BatchHooks, Hooks
from streams.engine.event_time import EventTimeProgress, HighWater, no_lag
from streams.engine.students import StateStore

log = logging.getLogger(__name__)

ENGAGEMENT_TYPES = {*KIND_OF_EVENT_TYPE, "event.registered"}
SETUP_TOPICS = frozenset({CONSENT, ROSTER})
# Well inside the producer's and the broker's default limits of about 1 MB per message.
DEADLETTER_MESSAGE_MAX_BYTES = 512 * 1024
# Batch work yields to the event loop this often: a batch (or a day's sweep) touching thousands
# of students takes seconds, and a loop silent for the session timeout would miss heartbeats and
# have the broker give the partitions away; the web server would stop answering too.
YIELD_EVERY_STUDENTS = 250
# A day's rollover saves every student at once; waiting for each slice of their changelog
# records to be acknowledged bounds what is in flight, and so the worker's peak memory.
SAVE_SLICE_STUDENTS = 5000


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _roster_fields_allowed(record: RawRecord) -> tuple[bytes | None, list[str]]:
    """A roster event that cannot be accepted is stored without the fields the roster policy
    drops (special category data is never stored, not even in dead letters): the one case
    where a dead letter is not the exact original. Returns the value to keep and what went."""
    if record.value is None:
        return record.value, []
    try:
        payload = json.loads(record.value)
    except ValueError:
        return record.value, []
    if not isinstance(payload, dict) or (
            record.topic != ROSTER and payload.get("type") != "roster.student"):
        return record.value, []
    kept, dropped = filter_roster_fields(payload)
    if not dropped:
        return record.value, []
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode(), dropped


def event_hash(event_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


class RawRecord(NamedTuple):
    """One Kafka record as the batch step takes it (a tuple: one is built for every event)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone, which the worker dead-letters
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    topic: str
    key: bytes | None
    value: bytes


@dataclass
class BatchOutcome:
    consumed: int = 0
    accepted: int = 0
    dead_lettered: int = 0
    late: int = 0
    duplicates: int = 0
    without_consent: int = 0
    alerts: int = 0
    messages: list[OutboundMessage] = field(default_factory=list)
    flushes: list[FlushReport] = field(default_factory=list)


@dataclass
class _StudentWork:
    state: StudentState
    config: TenantConfig
    calendar: LocalCalendar
    activities: list[Activity] = field(default_factory=list)
    touched: set[date] = field(default_factory=set)
    rescore: bool = False
    withdrawn: bool = False
    decisions: list[tuple[str, str, datetime]] = field(default_factory=list)


class _Undo:
    """What one batch may change in memory, as it was before: the touched students' state (a
    copy), event-time progress and the days swept. A failed batch is rolled back, so
    retrying it record by record starts from where it started, instead of from half-applied
    state that would, say, count a day as judged while the alerts it raised were discarded."""

    def __init__(self, processor: Processor) -> None:
        self._processor = processor
        self._progress = processor.progress.copy()
        self._swept_day = dict(processor.swept_day)
        self._scores_through = dict(processor.scores_through)
        self._states: dict[str, StudentState | None] = {}

    def remember(self, key: str, state: StudentState | None, *, activity_kept: bool = False
                 ) -> None:
        """`activity_kept`: the batch leaves this student's activity state alone (it only
        carries scores forward and judges days), so the copy may share it. A day's rollover
        touches every student at once, and copying their activity was most of its memory."""
        if key in self._states:
            return
        if state is None:
            self._states[key] = None
        else:
            self._states[key] = state.clone_sharing_activity() if activity_kept else state.clone()

    def report_judged(self) -> None:
        """Once the batch is written: the days its rules judged."""
        processor = self._processor
        for tenant, day in processor.swept_day.items():
            if self._swept_day.get(tenant) != day:
                processor.hooks.judged_through(tenant, processor.calendars[tenant].end_ms(day))

    def roll_back(self) -> None:
        processor = self._processor
        processor.sink.discard()
        processor.progress = self._progress
        processor.swept_day = self._swept_day
        processor.scores_through = self._scores_through
        for key, copy_before in self._states.items():
            processor.states.restore(key, copy_before)


class Processor:
    def __init__(
        self,
        *,
        tenants: dict[str, TenantConfig],
        sink: ClickHouseSink,
        states: StateStore,
        lateness_seconds: int = 600,
        max_future_hours: float = 24.0,
        hooks: Hooks | None = None,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        rollover_quiet_seconds: float = 900.0,
        rules_settle_seconds: float = 6 * 3600,
        highwater: HighWater = no_lag,
        partition_idle_seconds: float = 0.0,
    ) -> None:
        self.tenants = tenants
        self.sink = sink
        self.states = states
        self.lateness_ms = lateness_seconds * 1000
        self.max_future = timedelta(hours=max_future_hours)
        self.hooks = hooks or Hooks()
        self.wall_clock_ms = wall_clock_ms
        self.rollover_quiet_ms = int(rollover_quiet_seconds * 1000)
        self.rules_settle_ms = int(rules_settle_seconds * 1000)
        self.calendars = {name: LocalCalendar(cfg.timezone) for name, cfg in tenants.items()}
        # Derived from events, rebuilt after a restart; rule state lives in each student's state.
        self.progress = EventTimeProgress()
        self.swept_day: dict[str, date] = {}
        # Per tenant, the current day every student's score rows were last carried forward to.
        self.scores_through: dict[str, date] = {}
        self.highwater: HighWater = highwater
        self.partition_idle_ms = int(partition_idle_seconds * 1000)
        self.last_event_wall_ms: int | None = None
        self.lock = asyncio.Lock()
        self._undo: _Undo | None = None

    # ------------------------------------------------------------------------------------
    async def process(self, records: list[RawRecord]) -> BatchOutcome:
        return await self._undoable(lambda: self._process(records))

    async def _undoable(self, step: Callable[[], Awaitable[BatchOutcome]]) -> BatchOutcome:
        async with self.lock:
            undo = _Undo(self)
            self._undo = undo
            hooks = self.hooks
            batch_hooks = self.hooks = BatchHooks(hooks)
            try:
                self._restore_event_time()
                outcome = await step()
            except BaseException:
                undo.roll_back()
                raise
            finally:
                self._undo = None
                self.hooks = hooks
            batch_hooks.hand_on()
            undo.report_judged()
            return outcome

    async def process_isolating(self, records: list[RawRecord]) -> BatchOutcome:
        """Like `process`, but a record that makes processing fail is dead-lettered with the
        error instead of stopping the stream: the batch is retried one record at a time."""
        try:
            return await self.process(records)
        except Exception:
            log.exception("a batch of %d records failed; retrying record by record",
                          len(records))
        # `process` rolled the failed attempt back: its rows unwritten, state as it was.
        combined = BatchOutcome(consumed=len(records))
        for record in records:
            try:
                outcome = await self.process([record])
            except Exception as exc:
                log.exception("record %s/%d@%d failed", record.topic, record.partition,
                              record.offset)
                outcome = BatchOutcome()
                async with self.lock:
                    self._dead_letter(record, Rejection(DeadLetterReason.PROCESSING_FAILED,
                                                        f"{type(exc).__name__}: {exc}"[:500]),
                                      self.wall_clock_ms(), outcome)
                    await self.sink.flush()
            combined.messages += outcome.messages
            combined.accepted += outcome.accepted
            combined.dead_lettered += outcome.dead_lettered
            combined.alerts += outcome.alerts
        return combined

    async def _process(self, records: list[RawRecord]) -> BatchOutcome:
        outcome = BatchOutcome(consumed=len(records))
        now_ms = self.wall_clock_ms()
        now = from_ms(now_ms)
        work: dict[str, _StudentWork] = {}
        # Who a student is and what they agreed to come first: consent is judged by event
        # time, and a batch mixes topics in whatever order the partitions were fetched.
        ordered = sorted(records, key=lambda r: r.topic not in SETUP_TOPICS)
        accepted: dict[tuple[str, str], int] = {}
        for record in ordered:
            event = self._decode(record, now_ms, now, outcome)
            if event is None:
                continue
            topic_type = (record.topic, event.type)
            accepted[topic_type] = accepted.get(topic_type, 0) + 1
            item = self._work_for(work, event, record.partition)
            self._take_event(item, event, record, now, now_ms, outcome)
        outcome.accepted = sum(accepted.values())
        if outcome.accepted:
            self.last_event_wall_ms = now_ms
        stored = await self.sink.flush()
        outcome.flushes.append(stored)
        self.hooks.flushed(stored, [], now_ms)

        for item in work.values():
            if item.withdrawn:
                await self._delete_engagement(item, now)
        await self._move_alerts_on([d for item in work.values() for d in item.decisions])
        todays = self._current_days()
        await self._score_all(work, now_ms, todays, outcome)
        await self._carry_scores_forward(work, todays, outcome)
        await self._sweep_rollover(work, outcome, now_ms)
        report = await self.sink.flush()
        # Counted once the batch's rows are written: a reader of the counter may take every
        # event counted so far to be visible in ClickHouse, and a failed batch counts nothing.
        for (topic, event_type), count in accepted.items():
            self.hooks.consumed(topic, event_type, count)
        await self._save_states(work)
        await self.states.flush()
        outcome.flushes.append(report)
        arrivals = [r.timestamp_ms for r in records if r.timestamp_ms is not None]
        self.hooks.flushed(report, arrivals, self.wall_clock_ms())
        return outcome

    # -- decoding ---------------------------------------------------------------------------
    def _decode(self, record: RawRecord, now_ms: int, now: datetime, outcome: BatchOutcome
                ) -> Event | None:
        result = decode_event(
            record.value, topic=record.topic, key=record.key, now=now, max_future=self.max_future,
        )
        if isinstance(result, Rejection):
            self._dead_letter(record, result, now_ms, outcome)
            return None
        if result.tenant not in self.tenants:
            self._dead_letter(
                record,
                Rejection(DeadLetterReason.UNKNOWN_TENANT,
                          f"tenant {result.tenant!r} is not in the tenant configuration"),
                now_ms,
                outcome,
            )
            return None
        return result

    def _dead_letter(self, record: RawRecord, rejection: Rejection, now_ms: int,
                     outcome: BatchOutcome) -> None:
        value, dropped = _roster_fields_allowed(record)
        for name in dropped:
            self.hooks.roster_field_dropped(drop_reason(name))
        if dropped:
            rejection = Rejection(rejection.reason, rejection.detail + "; fields outside the "
                                  f"roster allow-list removed before storing: {', '.join(dropped)}")
        letter = DeadLetterRecord.from_raw(
            value, record.key, record.topic, record.partition, record.offset, rejection,
            from_ms(now_ms),
        )
        self.sink.add(
            "dead_letters",
            [
                letter.topic, letter.partition if letter.partition is not None else -1,
                letter.offset if letter.offset is not None else -1, letter.key,
                letter.key_encoding, letter.original, letter.original_encoding,
                str(letter.reason), letter.detail, letter.dead_lettered_at,
            ],
        )
        outcome.messages.append(
            OutboundMessage(DEADLETTER, record.key, letter.as_message(DEADLETTER_MESSAGE_MAX_BYTES))
        )
        outcome.dead_lettered += 1
        self.hooks.dead_lettered(str(rejection.reason))

    # -- per event ----------------------------------------------------------------------------
    def _work_for(self, work: dict[str, _StudentWork], event: Event, partition: int
                  ) -> _StudentWork:
        key = f"{event.tenant}:{event.student_id}"
        item = work.get(key)
        if item is None:
            stored = self.states.get(key)
            self._remember(key, stored)
            state = stored or StudentState(event.tenant, event.student_id)
            item = _StudentWork(state, self.tenants[event.tenant], self.calendars[event.tenant])
            work[key] = item
        item.state.partition = partition
        return item

    def _take_event(self, item: _StudentWork, event: Event, record: RawRecord, now: datetime,
                    now_ms: int, outcome: BatchOutcome) -> None:
        state, sink = item.state, self.sink
        at_ms = to_ms(event.occurred_at)
        day = item.calendar.day_of(at_ms)
        self.progress.observe(record.topic, record.partition, record.offset, at_ms, now_ms)
        if event.type in ENGAGEMENT_TYPES:
            if not allows(item.config.consent_mode, state.consent, event.occurred_at):
                outcome.without_consent += 1
                self.hooks.without_consent(event.tenant)
                sink.add("unconsented_events", [event.tenant, day, event.type,
                                                event_hash(event.event_id)])
                return
            sink.add("activity", activity_row(event, at_ms, day, now_ms, sink.versions.next()))
            kind = KIND_OF_EVENT_TYPE.get(event.type)
            if kind is not None:
                item.activities.append(
                    Activity(event.event_id, kind, at_ms, event.activity_module())
                )
        elif event.type == "attendance.swipe":
            sink.upsert(
                "attendance",
                (event.tenant, event.student_id, event.session_id, at_ms),
                [event.tenant, event.student_id, event.session_id, event.event_id,
                 event.occurred_at, day, event.status, at_ms],
            )
            known = state.attendance.get(event.session_id)
            if known is None or known.at <= event.occurred_at:
                state.attendance[event.session_id] = AttendanceMark(
                    event.session_id, day, event.occurred_at, event.status
                )
        elif event.type == "roster.student":
            _, dropped = filter_roster_fields(event.model_extra or {})
            for name in dropped:
                self.hooks.roster_field_dropped(drop_reason(name))
            if state.college != event.college:
                item.rescore = True
            state.college = event.college
            state.tutor_id = event.tutor_id
            sink.upsert(
                "students",
                (event.tenant, event.student_id),
                [event.tenant, event.student_id, event.college, event.programme or "",
                 event.year_group or "", event.tutor_id or "", event.occurred_at, at_ms],
            )
        elif event.type == "consent.changed":
            sink.add("consent_log", [event.tenant, event.student_id, event.event_id,
                                     event.granted, event.occurred_at, now])
            new_state, transition = apply_change(
                item.config.consent_mode, state.consent, event.granted, event.occurred_at
            )
            state.consent = new_state
            if transition is ConsentTransition.WITHDRAWN:
                item.withdrawn = True
                item.activities.clear()
        elif event.type == "review.decision":
            sink.add("review_decisions", [
                event.tenant, event.student_id, event.event_id, event.alert_id or "",
                event.decision, event.tutor_id, event.note or "", event.exempt_until,
                event.occurred_at,
            ])
            if event.decision == "exempted" and event.exempt_until is not None:
                state.alerts = exempt(state.alerts, event.exempt_until)
            elif event.alert_id:
                state.alerts, _ = resolve(state.alerts, event.alert_id, event.decision, day)
                item.decisions.append((event.alert_id, str(event.decision), event.occurred_at))

    # -- scoring ------------------------------------------------------------------------------
    async def _score_all(self, work: dict[str, _StudentWork], now_ms: int,
                         todays: dict[str, date], outcome: BatchOutcome) -> None:
        for n, item in enumerate(work.values(), start=1):
            await self._score(item, now_ms, todays.get(item.state.tenant), outcome)
            if n % YIELD_EVERY_STUDENTS == 0:
                await asyncio.sleep(0)

    async def _score(self, item: _StudentWork, now_ms: int, today: date | None,
                     outcome: BatchOutcome) -> None:
        state = item.state
        touched = set(item.touched)
        if item.activities:
            result = apply(state.activity, item.activities, lateness_ms=self.lateness_ms,
                           calendar=item.calendar)
            touched |= result.touched_days
            if result.duplicates:
                outcome.duplicates += len(result.duplicates)
                self.hooks.duplicate(len(result.duplicates))
            if result.late:
                outcome.late += len(result.late)
                self.hooks.late(state.tenant, len(result.late))
                touched |= await self._refold(item, result.late)
            state.tail_shown_closed = False
        if item.rescore:
            touched |= set(state.activity.days)
        if not touched:
            return
        clock_ms = max(now_ms, state.activity.newest_ms or 0)
        measures, scores = measure_days(state, touched, item.config, clock_ms=clock_ms,
                                        calendar=item.calendar, today=today)
        upsert_measures(self.sink, state.tenant, state.student_id, measures)
        upsert_scores(self.sink, state.tenant, state.student_id, scores)
        prune(state.activity, item.calendar)
        self._publish_scores(state, scores, outcome)
        state.tail_shown_closed = last_click_counted(state.activity, clock_ms)

    def _current_days(self) -> dict[str, date]:
        """Each tenant's current day: the day of the event time every partition with messages still
        waiting has reached (see `streams.engine.event_time`); the newest event time's once none
        has, and the wall clock's once the stream has been quiet (see `tick`). None while unknown.
        Not simply the newest event seen: a worker catching up reads some partitions days ahead of
        others. Unlike the rules, rows need not wait for partitions that are caught up but may still
        deliver: a late event rewrites the rows it moves."""
        reached = self.progress.watermark(self.highwater)
        if reached is None:
            return {}
        return {tenant: calendar.day_of(reached) for tenant, calendar in self.calendars.items()}

    async def _carry_scores_forward(self, work: dict[str, _StudentWork],
                                    todays: dict[str, date], outcome: BatchOutcome) -> None:
        """When a tenant's current day (`todays`, see `_current_days`) moves on, write the new
        days' score rows of every student whose 7-day average still counts a recent score:
        nothing new happened to them, but their average moved."""
        due = {tenant: today for tenant, today in todays.items()
               if tenant not in self.scores_through or today > self.scores_through[tenant]}
        if not due:
            return
        self.scores_through.update(due)
        async for state, today in self._students_of(due):
            if carry_due(state, today):
                item = work.get(state.key)
                if item is None:
                    self._remember(state.key, state, activity_kept=True)
                    item = _StudentWork(state, self.tenants[state.tenant],
                                        self.calendars[state.tenant])
                    work[state.key] = item
                rows = carry_forward(item.state, item.config, today)
                upsert_scores(self.sink, state.tenant, state.student_id, rows)
                self._publish_scores(item.state, rows, outcome)

    async def _students_of(self, days: dict[str, date]) -> AsyncIterator[tuple[StudentState, date]]:
        """Every student in state whose tenant is in `days`, with that tenant's day; yields to
        the event loop as it goes (a sweep covers every student the worker holds)."""
        for n, state in enumerate(self.states.states(), start=1):
            day = days.get(state.tenant)
            if day is not None:
                yield state, day
            if n % YIELD_EVERY_STUDENTS == 0:
                await asyncio.sleep(0)

    async def _refold(self, item: _StudentWork, late: list[Activity]) -> set[date]:
        state = item.state
        first_day = min(item.calendar.day_of(a.at_ms) for a in late) - timedelta(days=1)
        since = from_ms(item.calendar.start_ms(first_day))
        stored = await self.sink.run(
            lambda client: queries.engagement_activity(client, state.tenant, state.student_id,
                                                       since)
        )
        return rebuild_from(state.activity, first_day, stored, calendar=item.calendar)

    def _publish_scores(self, state: StudentState, rows: list[ScoreRow], outcome: BatchOutcome
                        ) -> None:
        """Every score row written, on the topic too."""
        computed_at = from_ms(self.wall_clock_ms())
        for row in rows:
            update = ScoreUpdate(
                tenant=state.tenant, student_id=state.student_id, date=row.day,
                college=row.college, daily_score=row.daily_score, score_7d=row.score_7d,
                band=row.band, computed_at=computed_at,
            )
            outcome.messages.append(
                OutboundMessage(SCORES, state.key.encode(), update.model_dump_json().encode())
            )

    # -- rules --------------------------------------------------------------------------------
    async def _sweep_rollover(self, work: dict[str, _StudentWork], outcome: BatchOutcome,
                        now_ms: int) -> None:
        """Evaluate the rules once per completed local day for every student in state.

        A day counts as completed when the low watermark of event time (see
        `streams.engine.event_time`) is `rules_settle` past its end."""
        watermark = self.progress.watermark(
            self.highwater,
            active_since_ms=now_ms - self.partition_idle_ms if self.partition_idle_ms else None)
        if watermark is None:
            return
        due: dict[str, date] = {}
        for tenant, calendar in self.calendars.items():
            completed = last_completed_day(calendar, watermark, self.rules_settle_ms)
            swept = self.swept_day.get(tenant)
            # The watermark steps back when a partition with older events wakes up; the days
            # up to where it had been are judged already.
            if swept is None or completed > swept:
                due[tenant] = completed
        if not due:
            return
        self.swept_day.update(due)
        async for state, day in self._students_of(due):
            if state.key not in work and days_to_evaluate(state, day):
                self._remember(state.key, state, activity_kept=True)
                work[state.key] = _StudentWork(state, self.tenants[state.tenant],
                                               self.calendars[state.tenant])
        # Students first seen in this batch are not in the store yet, and are judged too.
        for n, item in enumerate(work.values(), start=1):
            completed_day = due.get(item.state.tenant)
            if completed_day is not None:
                self._evaluate(item, completed_day, outcome)
            if n % YIELD_EVERY_STUDENTS == 0:
                await asyncio.sleep(0)

    def _restore_event_time(self) -> None:
        """Once the students' state is in (the worker is ready), take in how far event time had
        got before a restart: a worker restarted after all was read has no event left to learn
        it from, and would never judge the days still open."""
        progress = self.progress
        if progress.restored or progress.waiting is None:
            return
        progress.restore(max((ms for ms in (s.newest_event_ms() for s in self.states.states())
                              if ms is not None), default=None))
        if self.last_event_wall_ms is None and progress.reached_before is not None:
            # Quiet from now on counts from the restart (see `tick`).
            self.last_event_wall_ms = self.wall_clock_ms()

    def _evaluate(self, item: _StudentWork, completed: date, outcome: BatchOutcome) -> None:
        for day in days_to_evaluate(item.state, completed):
            raised = evaluate_day(item.state, day, item.config,
                                  day_end_ms=item.calendar.end_ms(day))
            self._raise(item, raised, outcome)
            item.state.evaluated_through = day
            item.state.prune(day)

    def _raise(self, item: _StudentWork, raised: list[RaisedAlert], outcome: BatchOutcome
               ) -> None:
        state = item.state
        created_at = from_ms(self.wall_clock_ms())
        for alert in raised:
            self.sink.upsert(
                "review_queue",
                (alert.alert_id,),
                alert_row(state.tenant, state.student_id, alert, created_at,
                          self.sink.versions.next()),
            )
            message = ReviewAlert(
                alert_id=alert.alert_id, tenant=state.tenant, student_id=state.student_id,
                tutor_id=alert.tutor_id, rule=alert.hit.rule, day=alert.hit.day,
                evidence=alert.hit.evidence, status="pending_review", created_at=created_at,
            )
            outcome.messages.append(
                OutboundMessage(REVIEW_ALERTS, state.key.encode(),
                                message.model_dump_json().encode())
            )
            outcome.alerts += 1
            self.hooks.alert_raised(alert.hit.rule)

    async def _move_alerts_on(self, decisions: list[tuple[str, str, datetime]]) -> None:
        """Record each alert's latest decision as its status in the review queue."""
        if not decisions:
            return
        found = await self.sink.run(
            lambda client: queries.alerts_by_id(client, [d[0] for d in decisions])
        )
        alerts = {row["alert_id"]: row for row in found}
        for alert_id, decision, decided_at in sorted(decisions, key=lambda d: d[2]):
            row = alerts.get(alert_id)
            if row is None:
                log.warning("decision for unknown alert %s kept as a record only", alert_id)
                continue
            if row["status"] != "pending_review" and _as_utc(row["updated_at"]) > decided_at:
                # A decision made earlier but delivered later is kept as a record only.
                continue
            row.update(status=decision, updated_at=decided_at)
            self.sink.upsert("review_queue", (alert_id,), [
                row["alert_id"], row["tenant"], row["student_id"], row["tutor_id"], row["rule"],
                row["day"], row["evidence"], row["status"], row["created_at"],
                row["updated_at"], self.sink.versions.next(),
            ])

    # -- withdrawal ---------------------------------------------------------------------------
    async def _delete_engagement(self, item: _StudentWork, now: Any) -> None:
        state = item.state
        deleted = await self.sink.run(
            lambda client: queries.delete_engagement(client, state.tenant, state.student_id)
        )
        state.forget_engagement()
        state.alerts = forget_rules(state.alerts, ENGAGEMENT_RULES)
        self.sink.add("privacy_audit", [state.tenant, state.student_id, "delete_engagement",
                                        "consent withdrawn", deleted, now])

    # -- wall-clock housekeeping --------------------------------------------------------------
    async def tick(self) -> BatchOutcome:
        """Close quiet students' last clicks by the wall clock; roll days over when a tenant's
        stream has been quiet long enough for its event time to stop advancing."""
        return await self._undoable(self._tick)

    async def _tick(self) -> BatchOutcome:
        outcome = BatchOutcome()
        now_ms = self.wall_clock_ms()
        work: dict[str, _StudentWork] = {}
        for state in self.states.states():
            last_click = last_click_ms(state.activity)
            if (state.tail_shown_closed or last_click is None
                    or not last_click_counted(state.activity, now_ms)):
                continue
            self._remember(state.key, state)
            item = _StudentWork(state, self.tenants[state.tenant], self.calendars[state.tenant])
            item.touched.add(item.calendar.day_of(last_click))
            work[state.key] = item
        await self._score_all(work, now_ms, self._current_days(), outcome)
        quiet_since = self.last_event_wall_ms
        if quiet_since is not None and now_ms - quiet_since >= self.rollover_quiet_ms:
            self.progress.advance_all(now_ms)
        await self._carry_scores_forward(work, self._current_days(), outcome)
        await self._sweep_rollover(work, outcome, now_ms)
        outcome.flushes.append(await self.sink.flush())
        await self._save_states(work)
        await self.states.flush()
        return outcome

    def _remember(self, key: str, state: StudentState | None, *, activity_kept: bool = False
                  ) -> None:
        if self._undo is not None:
            self._undo.remember(key, state, activity_kept=activity_kept)

    async def _save_states(self, work: dict[str, _StudentWork]) -> None:
        """Snapshot the students' state, only once what it led to is in ClickHouse: a crash in
        between then replays the batch from the old state and rewrites the same rows, instead
        of restoring a state that says 'done' for rows that were never written."""
        for n, item in enumerate(work.values(), start=1):
            self.states.put(item.state)
            if n % SAVE_SLICE_STUDENTS == 0:
                await self.states.flush()
            elif n % YIELD_EVERY_STUDENTS == 0:
                await asyncio.sleep(0)
