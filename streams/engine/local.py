"""The engine, in the caller's process: the worker's engine process serves one, a file import and
a recompute run one, and so do the tests.

A batch of raw Kafka records: dead-letter what cannot be accepted (`streams.engine.intake`),
apply each event to its student (`scoring.steps`), store engagement activity that consent
allows, feed it to the sessionizer, refold days touched by late events from storage, and write
the changed measures, scores and alerts. The domain rules are in `scoring/`; this module
orders the work, writes the rows, sends the messages and counts. Rows and messages are written
before a call returns, so the caller may commit the batch's offsets afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from schemas.decode import DeadLetterReason, Rejection
from schemas.events import Event, ReviewDecision
from schemas.records import ReviewAlert, ScoreUpdate
from schemas.topics import CONSENT, REVIEW_ALERTS, ROSTER, SCORES
from scoring import steps
from scoring.config import TenantConfig
from scoring.days import (
    RaisedAlert,
    ScoreRow,
    carry_due,
    carry_forward,
    days_to_evaluate,
    last_completed_day,
    measure_days,
)
from scoring.measures import KIND_OF_EVENT_TYPE, Activity
from scoring.roster_policy import filter_roster_fields
from scoring.sessionize import apply, last_click_counted, last_click_ms, prune, rebuild_from
from scoring.student import StudentState
from scoring.timebase import LocalCalendar, from_ms, to_ms
from sinks.protocols import RowSink, StoredRows
from sinks.reports import FlushReport
from sinks.rows import (
    AttendanceRow,
    ConsentLogRow,
    PrivacyAuditRow,
    ReviewDecisionsRow,
    StudentsRow,
    UnconsentedEventsRow,
    activity_row,
    alert_row,
    measures_rows,
    scores_rows,
)
from streams.access import Identity
from streams.engine import intake
from streams.engine.contract import (
    ALL_READ,
    BatchReport,
    ChangelogEntry,
    ConsumerView,
    Counted,
    Counts,
    Discard,
    OutboundMessage,
    Publisher,
    RawRecord,
)
from streams.engine.event_time import EventTimeProgress
from streams.engine.rollback import Undo
from streams.engine.students import StateStore
from streams.errors import QueryRefused

log = logging.getLogger(__name__)

SETUP_TOPICS = frozenset({CONSENT, ROSTER})
# Batch work yields to the event loop this often: a batch (or a day's sweep) touching thousands
# of students takes seconds, and a loop silent for the session timeout would miss heartbeats and
# have the broker give the partitions away; the web server would stop answering too.
YIELD_EVERY_STUDENTS = 250
# A day's rollover saves every student at once; waiting for each slice of their changelog
# records to be acknowledged bounds what is in flight, and so the worker's peak memory.
SAVE_SLICE_STUDENTS = 5000


class Views(Protocol):
    async def answer(self, name: str, params: dict[str, Any], identity: Identity) -> Any: ...


class NoViews:
    async def answer(self, name: str, params: dict[str, Any], identity: Identity) -> Any:
        raise QueryRefused("this engine answers no read queries")


@dataclass
class _StudentWork:
    state: StudentState
    config: TenantConfig
    calendar: LocalCalendar
    activities: list[Activity] = field(default_factory=list)
    touched: set[date] = field(default_factory=set)
    rescore: bool = False
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class _Decision:
    """A tutor's decision on an alert, taken once the alert is looked up (see `_decide`)."""

    item: _StudentWork
    event: ReviewDecision
    record: RawRecord
    day: date

    @property
    def decided_at(self) -> datetime:
        return self.event.occurred_at


@dataclass
class _Batch:
    """What one batch (or tick) has done so far: reported and sent only once it is written."""

    counts: Counts = field(default_factory=Counts)
    messages: list[OutboundMessage] = field(default_factory=list)
    report: BatchReport = field(default_factory=BatchReport)


def _decision_row(event: ReviewDecision) -> ReviewDecisionsRow:
    return ReviewDecisionsRow(
        event.tenant, event.student_id, event.event_id, event.alert_id or "", event.decision,
        event.tutor_id, event.note or "", event.exempt_until, event.occurred_at)


class LocalEngine:
    def __init__(
        self,
        *,
        tenants: dict[str, TenantConfig],
        sink: RowSink,
        stored: StoredRows,
        states: StateStore,
        publisher: Publisher | None = None,
        views: Views | None = None,
        lateness_seconds: int = 600,
        max_future_hours: float = 24.0,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        rollover_quiet_seconds: float = 900.0,
        rules_settle_seconds: float = 6 * 3600,
        partition_idle_seconds: float = 0.0,
    ) -> None:
        self.tenants = tenants
        self.sink = sink
        self.stored = stored
        self.states = states
        self.publisher: Publisher = Discard() if publisher is None else publisher
        self.views: Views = NoViews() if views is None else views
        self.lateness_ms = lateness_seconds * 1000
        self.max_future = timedelta(hours=max_future_hours)
        self.wall_clock_ms = wall_clock_ms
        self.rollover_quiet_ms = int(rollover_quiet_seconds * 1000)
        self.rules_settle_ms = int(rules_settle_seconds * 1000)
        self.calendars = {name: LocalCalendar(cfg.timezone) for name, cfg in tenants.items()}
        # Derived from events, rebuilt after a restart; rule state lives in each student's state.
        self.progress = EventTimeProgress()
        self.view: ConsumerView = ALL_READ
        self.swept_day: dict[str, date] = {}
        # Per tenant, the current day every student's score rows were last carried forward to.
        self.scores_through: dict[str, date] = {}
        self.partition_idle_ms = int(partition_idle_seconds * 1000)
        self.last_event_wall_ms: int | None = None
        self.lock = asyncio.Lock()
        self._undo: Undo | None = None
        self._written_unreported: list[FlushReport] = []

    # -- the interface (streams.engine.contract.Engine) ---------------------------------------
    async def batch(self, records: Sequence[RawRecord], view: ConsumerView = ALL_READ
                    ) -> BatchReport:
        """Like `process`, but a record that makes processing fail is dead-lettered with the
        error instead of stopping the stream: the batch is retried one record at a time."""
        try:
            report, messages = await self._undoable(
                view, lambda batch: self._process(records, batch))
        except Exception:
            log.exception("a batch of %d records failed; retrying record by record",
                          len(records))
        else:
            await self.publisher.publish(messages)
            return report
        # The failed attempt was rolled back: its rows unwritten, state as it was.
        combined, messages = BatchReport(), []
        for record in records:
            try:
                report, sent = await self._undoable(view, partial(self._process, [record]))
            except Exception as exc:
                log.exception("record %s/%d@%d failed", record.topic, record.partition,
                              record.offset)
                report, sent = await self._dead_letter_failed(record, exc)
            combined.merge(report)
            messages += sent
        await self.publisher.publish(messages)
        return combined

    async def tick(self, view: ConsumerView = ALL_READ) -> BatchReport:
        """Close quiet students' last clicks by the wall clock; roll days over when a tenant's
        stream has been quiet long enough for its event time to stop advancing."""
        report, messages = await self._undoable(view, self._tick)
        await self.publisher.publish(messages)
        return report

    def restore(self, entries: list[ChangelogEntry]) -> None:
        self.states.apply_restored(entries)

    async def keep_partitions(self, partitions: set[int]) -> int:
        async with self.lock:
            return self.states.keep_partitions(partitions)

    async def query(self, name: str, params: dict[str, Any], identity: Identity) -> Any:
        return await self.views.answer(name, params, identity)

    # -- batches ------------------------------------------------------------------------------
    async def process(self, records: Sequence[RawRecord], view: ConsumerView = ALL_READ
                      ) -> BatchReport:
        """One batch, all or nothing: on failure nothing is written, sent or counted, the
        state is as it was, and the error is raised."""
        report, messages = await self._undoable(
            view, lambda batch: self._process(records, batch))
        await self.publisher.publish(messages)
        return report

    async def _undoable(self, view: ConsumerView, step: Callable[[_Batch], Awaitable[None]]
                        ) -> tuple[BatchReport, list[OutboundMessage]]:
        """Run a step under the lock; roll it back if it fails. Returns its report and the
        messages to send (once sent, the step is done)."""
        async with self.lock:
            undo = Undo(self.progress, self.swept_day, self.scores_through)
            self._undo = undo
            batch = _Batch()
            try:
                self._take_view(view)
                self._restore_event_time()
                await step(batch)
            except BaseException:
                # Rows already written stay written, and are reported with the next answer.
                self._written_unreported += batch.report.flushes
                self._roll_back(undo)
                raise
            finally:
                self._undo = None
            report = batch.report
            report.flushes[:0], self._written_unreported = self._written_unreported, []
            report.counts = batch.counts
            report.counts.add(Counted.SCORE_PUBLISHED,
                              count=sum(m.topic == SCORES for m in batch.messages))
            report.judged_through_ms = {
                tenant: self.calendars[tenant].end_ms(day)
                for tenant, day in undo.days_judged(self.swept_day).items()}
            report.students_in_state = len(self.states)
            return report, batch.messages

    def _roll_back(self, undo: Undo) -> None:
        self.sink.discard()
        self.progress = undo.progress
        self.swept_day = undo.swept_day
        self.scores_through = undo.scores_through
        undo.put_back(self.states.restore)

    async def _dead_letter_failed(self, record: RawRecord, error: Exception
                                  ) -> tuple[BatchReport, list[OutboundMessage]]:
        batch = _Batch()
        async with self.lock:
            rejection = Rejection(DeadLetterReason.PROCESSING_FAILED,
                                  f"{type(error).__name__}: {error}"[:500])
            intake.dead_letter(record, rejection, from_ms(self.wall_clock_ms()), self.sink,
                               batch.counts, batch.messages)
            batch.report.flushes.append(await self.sink.flush())
        batch.report.counts = batch.counts
        batch.report.students_in_state = len(self.states)
        return batch.report, batch.messages

    def _take_view(self, view: ConsumerView) -> None:
        """Which partitions the consumer saw holding unprocessed messages, and its high
        watermarks, just before this request (see `streams.engine.event_time`)."""
        self.view = view
        if view.waiting is None:
            self.progress.await_measurement()
        else:
            self.progress.note_waiting(set(view.waiting))

    def _highwater(self, topic: str, partition: int) -> int | None:
        return self.view.highwaters.get((topic, partition))

    async def _process(self, records: Sequence[RawRecord], batch: _Batch) -> None:
        now_ms = self.wall_clock_ms()
        now = from_ms(now_ms)
        work: dict[str, _StudentWork] = {}
        # Who a student is and what they agreed to come first: consent is judged by event
        # time, and a batch mixes topics in whatever order the partitions were fetched.
        ordered = sorted(records, key=lambda r: r.topic not in SETUP_TOPICS)
        accepted = Counts()
        decisions: list[_Decision] = []
        for record in ordered:
            event = intake.decode(record, self.tenants, now, self.max_future)
            if isinstance(event, Rejection):
                intake.dead_letter(record, event, now, self.sink, batch.counts, batch.messages)
                continue
            item = self._work_for(work, event, record.partition)
            if isinstance(event, ReviewDecision) and event.alert_id:
                at_ms = to_ms(event.occurred_at)
                self.progress.observe(record.topic, record.partition, record.offset, at_ms,
                                      now_ms)
                decisions.append(_Decision(item, event, record, item.calendar.day_of(at_ms)))
                continue
            accepted.add(Counted.CONSUMED, record.topic, event.type)
            self._take_event(item, event, record, now, now_ms, batch)
        await self._decide(decisions, now, accepted, batch)
        if accepted.total(Counted.CONSUMED):
            self.last_event_wall_ms = now_ms
        batch.report.flushes.append(await self.sink.flush())

        for item in work.values():
            if item.withdrawn:
                await self._withdraw(item, now)
        todays = self._current_days()
        await self._score_all(work, now_ms, todays, batch)
        await self._carry_scores_forward(work, todays, batch)
        await self._sweep_rollover(work, batch, now_ms)
        batch.report.flushes.append(await self.sink.flush())
        # Counted once the batch's rows are written: a reader of the counter may take every
        # event counted so far to be visible in ClickHouse, and a failed batch counts nothing.
        batch.counts.merge(accepted)
        batch.report.arrivals_ms = [r.timestamp_ms for r in records if r.timestamp_ms is not None]
        batch.report.written_at_ms = self.wall_clock_ms()
        await self._save_states(work)
        self._save_progress({r.partition for r in records})
        await self.states.flush()

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
                    now_ms: int, batch: _Batch) -> None:
        state, sink = item.state, self.sink
        at_ms = to_ms(event.occurred_at)
        day = item.calendar.day_of(at_ms)
        self.progress.observe(record.topic, record.partition, record.offset, at_ms, now_ms)
        if steps.is_engagement(event.type):
            if not steps.engagement_allowed(state, item.config, event.occurred_at):
                batch.counts.add(Counted.WITHOUT_CONSENT, event.tenant)
                sink.add(UnconsentedEventsRow(event.tenant, day, event.type,
                                              intake.event_hash(event.event_id)))
                return
            sink.add(activity_row(event, at_ms, day, now_ms, sink.versions.next()))
            kind = KIND_OF_EVENT_TYPE.get(event.type)
            if kind is not None:
                item.activities.append(
                    Activity(event.event_id, kind, at_ms, event.activity_module()))
        elif event.type == "attendance.swipe":
            sink.add(AttendanceRow(event.tenant, event.student_id, event.session_id,
                                   event.event_id, event.occurred_at, day, event.status, at_ms))
            steps.mark_attendance(state, event.session_id, day, event.occurred_at, event.status)
        elif event.type == "roster.student":
            _, dropped = filter_roster_fields(event.model_extra or {})
            intake.count_dropped_roster_fields(dropped, batch.counts)
            if steps.take_roster(state, event.college, event.tutor_id):
                item.rescore = True
            sink.add(StudentsRow(event.tenant, event.student_id, event.college,
                                 event.programme or "", event.year_group or "",
                                 event.tutor_id or "", event.occurred_at, at_ms))
        elif event.type == "consent.changed":
            sink.add(ConsentLogRow(event.tenant, event.student_id, event.event_id,
                                   event.granted, event.occurred_at, now))
            if steps.take_consent(state, item.config, event.granted, event.occurred_at):
                item.withdrawn = True
                item.activities.clear()
        elif event.type == "review.decision":  # one naming no alert: an exemption
            sink.add(_decision_row(event))
            steps.take_decision(state, event.decision, None, event.exempt_until, day)

    # -- scoring ------------------------------------------------------------------------------
    async def _score_all(self, work: dict[str, _StudentWork], now_ms: int,
                         todays: dict[str, date], batch: _Batch) -> None:
        for n, item in enumerate(work.values(), start=1):
            await self._score(item, now_ms, todays.get(item.state.tenant), batch)
            if n % YIELD_EVERY_STUDENTS == 0:
                await asyncio.sleep(0)

    async def _score(self, item: _StudentWork, now_ms: int, today: date | None, batch: _Batch
                     ) -> None:
        state = item.state
        touched = set(item.touched)
        if item.activities:
            result = apply(state.activity, item.activities, lateness_ms=self.lateness_ms,
                           calendar=item.calendar)
            touched |= result.touched_days
            batch.counts.add(Counted.DUPLICATE, count=len(result.duplicates))
            if result.late:
                batch.counts.add(Counted.LATE, state.tenant, count=len(result.late))
                touched |= await self._refold(item, result.late)
            state.tail_shown_closed = False
        if item.rescore:
            touched |= set(state.activity.days)
        if not touched:
            return
        clock_ms = steps.scoring_clock_ms(state, now_ms)
        measures, scores = measure_days(state, touched, item.config, clock_ms=clock_ms,
                                        calendar=item.calendar, today=today)
        versions = self.sink.versions.next
        for measure in measures_rows(state.tenant, state.student_id, measures, versions):
            self.sink.add(measure)
        self._write_scores(state, scores, batch)
        prune(state.activity, item.calendar)
        state.tail_shown_closed = last_click_counted(state.activity, clock_ms)

    def _current_days(self) -> dict[str, date]:
        """Each tenant's current day: the day of the event time every partition with messages still
        waiting has reached (see `streams.engine.event_time`); the newest event time's once none
        has, and the wall clock's once the stream has been quiet (see `tick`). None while unknown.
        Not simply the newest event seen: a worker catching up reads some partitions days ahead of
        others. Unlike the rules, rows need not wait for partitions that are caught up but may still
        deliver: a late event rewrites the rows it moves."""
        reached = self.progress.watermark(self._highwater)
        if reached is None:
            return {}
        return {tenant: calendar.day_of(reached) for tenant, calendar in self.calendars.items()}

    async def _carry_scores_forward(self, work: dict[str, _StudentWork],
                                    todays: dict[str, date], batch: _Batch) -> None:
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
                self._write_scores(item.state, carry_forward(item.state, item.config, today),
                                   batch)

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
        stored = await self.stored.engagement_activity(state.tenant, state.student_id, since)
        return rebuild_from(state.activity, first_day, stored, calendar=item.calendar)

    def _write_scores(self, state: StudentState, rows: list[ScoreRow], batch: _Batch) -> None:
        """Every score row written, on the topic too."""
        for row in scores_rows(state.tenant, state.student_id, rows, self.sink.versions.next):
            self.sink.add(row)
        computed_at = from_ms(self.wall_clock_ms())
        for score in rows:
            update = ScoreUpdate(
                tenant=state.tenant, student_id=state.student_id, date=score.day,
                college=score.college, daily_score=score.daily_score, score_7d=score.score_7d,
                band=score.band, computed_at=computed_at,
            )
            batch.messages.append(
                OutboundMessage(SCORES, state.key.encode(), update.model_dump_json().encode()))

    # -- rules --------------------------------------------------------------------------------
    async def _sweep_rollover(self, work: dict[str, _StudentWork], batch: _Batch, now_ms: int
                              ) -> None:
        """Evaluate the rules once per completed local day for every student in state.

        A day counts as completed when the low watermark of event time (see
        `streams.engine.event_time`) is `rules_settle` past its end."""
        watermark = self.progress.watermark(
            self._highwater,
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
                raised = steps.judge_days(item.state, completed_day, item.config, item.calendar)
                self._raise(item.state, raised, batch)
            if n % YIELD_EVERY_STUDENTS == 0:
                await asyncio.sleep(0)

    def _save_progress(self, partitions: set[int]) -> None:
        """With the students, how far the engine has got (snapshotted like them, so that a
        restart restores it): each partition's event time and offsets, and per tenant the day
        the rules judged through and the day score rows were carried forward to."""
        swept = {tenant: day.isoformat() for tenant, day in self.swept_day.items()}
        carried = {tenant: day.isoformat() for tenant, day in self.scores_through.items()}
        for partition in partitions:
            self.states.put_progress(partition, {
                "event_time": self.progress.partition_snapshot(partition),
                "swept_day": swept, "scores_through": carried})

    def _restore_event_time(self) -> None:
        """Once the students' state is in (the worker is ready), take in how far the engine
        had got before a restart (see `_save_progress`): a worker restarted after all was read
        has no event left to learn event time from, and would never judge the days still open.
        Held partitions can have got to different days (one was another worker's until a
        rebalance): the days judged and carried through are those every one of them reached,
        and each student's own judged-through and scored-through days keep anything from
        being done twice."""
        progress = self.progress
        if progress.restored or progress.waiting is None:
            return
        snapshots = self.states.progress()
        for partition, snapshot in snapshots.items():
            progress.restore_partition(partition, snapshot.get("event_time", {}))
        for name, days in (("swept_day", self.swept_day),
                           ("scores_through", self.scores_through)):
            if days or not snapshots:
                continue
            reached = [snapshot.get(name, {}) for snapshot in snapshots.values()]
            for tenant in self.tenants:
                held = [date.fromisoformat(r[tenant]) for r in reached if tenant in r]
                if len(held) == len(reached):
                    days[tenant] = min(held)
        progress.restore(max((ms for ms in (s.newest_event_ms() for s in self.states.states())
                              if ms is not None), default=None))
        if self.last_event_wall_ms is None and progress.reached_before is not None:
            # Quiet from now on counts from the restart (see `tick`).
            self.last_event_wall_ms = self.wall_clock_ms()

    def _raise(self, state: StudentState, raised: list[RaisedAlert], batch: _Batch) -> None:
        created_at = from_ms(self.wall_clock_ms())
        for alert in raised:
            self.sink.add(alert_row(state.tenant, state.student_id, alert, created_at,
                                    self.sink.versions.next()))
            message = ReviewAlert(
                alert_id=alert.alert_id, tenant=state.tenant, student_id=state.student_id,
                tutor_id=alert.tutor_id, rule=alert.hit.rule, day=alert.hit.day,
                evidence=alert.hit.evidence, status=steps.PENDING, created_at=created_at,
            )
            batch.messages.append(OutboundMessage(REVIEW_ALERTS, state.key.encode(),
                                                  message.model_dump_json().encode()))
            batch.counts.add(Counted.ALERT_RAISED, alert.hit.rule)

    async def _decide(self, decisions: list[_Decision], now: datetime, accepted: Counts,
                      batch: _Batch) -> None:
        """Take each decision on an alert, in the order they were made: on the student's state,
        as a record of the intervention, and as the alert's status in the review queue. A
        decision moves only an alert of its own tenant and student; any other is dead-lettered
        (an alert of another tenant as not found: alert ids are not to be probed), and neither
        the state nor the queue changes."""
        if not decisions:
            return
        alerts = await self.stored.alerts([d.event.alert_id or "" for d in decisions])
        for pending in steps.in_decision_order(decisions):
            event, alert_id = pending.event, pending.event.alert_id or ""
            row = alerts.get(alert_id)
            refusal = steps.decision_refusal(
                None if row is None else (row.tenant, row.student_id),
                (event.tenant, event.student_id))
            if refusal is not None:
                intake.dead_letter(pending.record, Rejection(*refusal), now, self.sink,
                                   batch.counts, batch.messages)
                continue
            assert row is not None
            accepted.add(Counted.CONSUMED, pending.record.topic, event.type)
            self.sink.add(_decision_row(event))
            steps.take_decision(pending.item.state, event.decision, alert_id,
                                event.exempt_until, pending.day)
            if steps.decision_moves_alert(row.status, row.updated_at, pending.decided_at):
                row = row._replace(status=str(event.decision), updated_at=pending.decided_at,
                                   version=self.sink.versions.next())
                alerts[alert_id] = row
                self.sink.add(row)

    # -- withdrawal ---------------------------------------------------------------------------
    async def _withdraw(self, item: _StudentWork, now: datetime) -> None:
        state = item.state
        deleted = await self.stored.erase_engagement(state.tenant, state.student_id)
        steps.withdraw(state)
        self.sink.add(PrivacyAuditRow(state.tenant, state.student_id, "delete_engagement",
                                      "consent withdrawn", deleted, now))

    # -- wall-clock housekeeping --------------------------------------------------------------
    async def _tick(self, batch: _Batch) -> None:
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
        await self._score_all(work, now_ms, self._current_days(), batch)
        quiet_since = self.last_event_wall_ms
        if quiet_since is not None and now_ms - quiet_since >= self.rollover_quiet_ms:
            self.progress.advance_all(now_ms)
        await self._carry_scores_forward(work, self._current_days(), batch)
        await self._sweep_rollover(work, batch, now_ms)
        batch.report.flushes.append(await self.sink.flush())
        await self._save_states(work)
        self._save_progress(self.progress.partitions())
        await self.states.flush()

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
