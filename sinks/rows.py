"""Every table's row, typed: one NamedTuple a table, its fields in the table's column order.

A row is a tuple (the batch path builds one for every event, and the client inserts tuples as
they are) with names, so that a row cannot be written to the wrong table or with its columns
in the wrong order. `TABLES` says, for each, the table's name and, for a versioned table, the
key under which a later row of the same batch replaces an earlier one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from schemas.events import Event
from scoring.days import MeasureRow, RaisedAlert, ScoreRow


class ActivityRow(NamedTuple):
    tenant: str
    student_id: str
    event_id: str
    type: str
    # Times as milliseconds since 1970, as `DateTime64(3)` stores them: the client would
    # otherwise convert each datetime in Python, twice for every event.
    occurred_at: int
    day: date
    module: str | None
    detail: str
    source: str
    received_at: int
    version: int


class DailyMeasuresRow(NamedTuple):
    tenant: str
    student_id: str
    day: date
    ele_minutes: float
    minutes_by_module: dict[str, float]
    no_module_minutes: float
    app_choices: int
    event_checkins: int
    version: int


class DailyScoresRow(NamedTuple):
    tenant: str
    student_id: str
    day: date
    college: str
    daily_score: float
    score_7d: float
    band: str
    version: int


class StudentsRow(NamedTuple):
    tenant: str
    student_id: str
    college: str
    programme: str
    year_group: str
    tutor_id: str
    updated_at: datetime
    version: int


class AttendanceRow(NamedTuple):
    tenant: str
    student_id: str
    session_id: str
    event_id: str
    occurred_at: datetime
    day: date
    status: str
    version: int  # the mark's time in milliseconds: the latest mark of a session wins


class ConsentLogRow(NamedTuple):
    tenant: str
    student_id: str
    event_id: str
    granted: bool
    occurred_at: datetime
    received_at: datetime


class ReviewQueueRow(NamedTuple):
    alert_id: str
    tenant: str
    student_id: str
    tutor_id: str
    rule: str
    day: date
    evidence: str
    status: str
    created_at: datetime
    updated_at: datetime
    version: int


class ReviewDecisionsRow(NamedTuple):
    tenant: str
    student_id: str
    event_id: str
    alert_id: str
    decision: str
    tutor_id: str
    note: str
    exempt_until: date | None
    occurred_at: datetime


class DeadLettersRow(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: str | None
    key_encoding: str
    original: str
    original_encoding: str
    reason: str
    detail: str
    dead_lettered_at: datetime


class UnconsentedEventsRow(NamedTuple):
    tenant: str
    day: date
    type: str
    event_hash: int


class PrivacyAuditRow(NamedTuple):
    tenant: str
    student_id: str
    action: str
    reason: str
    deleted_rows: dict[str, int]
    at: datetime


Row = (ActivityRow | DailyMeasuresRow | DailyScoresRow | StudentsRow | AttendanceRow
       | ConsentLogRow | ReviewQueueRow | ReviewDecisionsRow | DeadLettersRow
       | UnconsentedEventsRow | PrivacyAuditRow)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    row: type[tuple[Any, ...]]
    # Versioned tables: a later row of the same batch with this key replaces the earlier one.
    key: Callable[[Any], Hashable] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.row._fields)  # type: ignore[attr-defined]


TABLES: tuple[Table, ...] = (
    Table("activity", ActivityRow),
    Table("daily_measures", DailyMeasuresRow, lambda r: (r.tenant, r.student_id, r.day)),
    Table("daily_scores", DailyScoresRow, lambda r: (r.tenant, r.student_id, r.day)),
    Table("students", StudentsRow, lambda r: (r.tenant, r.student_id)),
    Table("attendance", AttendanceRow,
          lambda r: (r.tenant, r.student_id, r.session_id, r.version)),
    Table("consent_log", ConsentLogRow),
    Table("review_queue", ReviewQueueRow, lambda r: r.alert_id),
    Table("review_decisions", ReviewDecisionsRow),
    Table("dead_letters", DeadLettersRow),
    Table("unconsented_events", UnconsentedEventsRow),
    Table("privacy_audit", PrivacyAuditRow),
)
TABLE_OF: dict[type, Table] = {table.row: table for table in TABLES}
COLUMNS: dict[str, tuple[str, ...]] = {table.name: table.columns for table in TABLES}


# -- rows from events and scoring results ------------------------------------------------------
def activity_row(event: Event, at_ms: int, day: date, received_ms: int, version: int
                 ) -> ActivityRow:
    return ActivityRow(
        event.tenant, event.student_id, event.event_id, event.type, at_ms, day,
        event.activity_module(), event.activity_detail(), event.source or "", received_ms,
        version,
    )


def measures_rows(tenant: str, student_id: str, rows: list[MeasureRow],
                  version: Callable[[], int]) -> list[DailyMeasuresRow]:
    return [
        DailyMeasuresRow(
            tenant, student_id, row.day, row.totals.ele_minutes, row.totals.minutes_by_module(),
            row.totals.no_module_minutes, row.totals.app_choices, row.totals.event_checkins,
            version(),
        )
        for row in rows
    ]


def scores_rows(tenant: str, student_id: str, rows: list[ScoreRow],
                version: Callable[[], int]) -> list[DailyScoresRow]:
    return [
        DailyScoresRow(tenant, student_id, row.day, row.college, row.daily_score, row.score_7d,
                       row.band, version())
        for row in rows
    ]


def alert_row(tenant: str, student_id: str, alert: RaisedAlert, created_at: datetime,
              version: int) -> ReviewQueueRow:
    return ReviewQueueRow(
        alert.alert_id, tenant, student_id, alert.tutor_id or "", alert.hit.rule, alert.hit.day,
        json.dumps(alert.hit.evidence, sort_keys=True), "pending_review", created_at, created_at,
        version,
    )
