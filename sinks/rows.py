"""Turning events and scoring results into ClickHouse rows (column order in writer.COLUMNS)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from schemas.events import Event
from scoring.engine import MeasureRow, RaisedAlert, ScoreRow
from sinks.writer import ClickHouseSink


def activity_row(event: Event, at_ms: int, day: date, received_ms: int, version: int
                 ) -> list[Any]:
    """Times go in as milliseconds since 1970, as `DateTime64(3)` stores them: the client would
    otherwise convert each datetime in Python, twice for every event."""
    return [
        event.tenant, event.student_id, event.event_id, event.type, at_ms, day,
        event.activity_module(), event.activity_detail(), event.source or "", received_ms,
        version,
    ]


def upsert_measures(
    sink: ClickHouseSink, tenant: str, student_id: str, rows: list[MeasureRow]
) -> None:
    for row in rows:
        totals = row.totals
        sink.upsert(
            "daily_measures",
            (tenant, student_id, row.day),
            [
                tenant, student_id, row.day, totals.ele_minutes, totals.minutes_by_module(),
                totals.no_module_minutes, totals.app_choices, totals.event_checkins,
                sink.versions.next(),
            ],
        )


def upsert_scores(sink: ClickHouseSink, tenant: str, student_id: str, rows: list[ScoreRow]) -> None:
    for row in rows:
        sink.upsert(
            "daily_scores",
            (tenant, student_id, row.day),
            [
                tenant, student_id, row.day, row.college, row.daily_score, row.score_7d, row.band,
                sink.versions.next(),
            ],
        )


def alert_row(
    tenant: str, student_id: str, alert: RaisedAlert, created_at: datetime, version: int
) -> list[Any]:
    return [
        alert.alert_id, tenant, student_id, alert.tutor_id or "", alert.hit.rule, alert.hit.day,
        json.dumps(alert.hit.evidence, sort_keys=True), "pending_review", created_at, created_at,
        version,
    ]
