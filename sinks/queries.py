"""Read queries. Every reader takes the latest version of each row (deletions: `sinks.erasure`).

They serve the CLI, the worker's query endpoints, and later the web view and reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from scoring.measures import KIND_OF_EVENT_TYPE, Activity
from sinks.rows import ReviewQueueRow


def engagement_activity(
    client: Client, tenant: str, student_id: str, since: datetime
) -> list[Activity]:
    """The student's stored scored activity from `since` on, one row per event id."""
    result = client.query(
        "SELECT event_id, type, toUnixTimestamp64Milli(occurred_at), module FROM activity FINAL "
        "WHERE tenant = {tenant:String} AND student_id = {student:String} "
        "AND occurred_at >= {since:DateTime64(3, 'UTC')} "
        "AND type IN {types:Array(String)}",
        parameters={"tenant": tenant, "student": student_id, "since": since,
                    "types": list(KIND_OF_EVENT_TYPE)},
    )
    return [
        Activity(event_id, KIND_OF_EVENT_TYPE[kind], int(at_ms), module)
        for event_id, kind, at_ms, module in result.result_rows
    ]


def student_filter() -> str:
    return "tenant = {tenant:String} AND student_id = {student:String}"


def dead_letter_filter() -> str:
    """Dead letters carry no parsed student, only the message key the producer sent."""
    return "key = {key:String}"


def rows_as_dicts(result: Any) -> list[dict[str, Any]]:
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def daily_rows(client: Client, tenant: str, student_id: str, first: date, last: date
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    parameters = {"tenant": tenant, "student": student_id, "first": first, "last": last}
    window = student_filter() + " AND day BETWEEN {first:Date} AND {last:Date}"
    measures = client.query(
        "SELECT day, ele_minutes, minutes_by_module, no_module_minutes, app_choices, "
        f"event_checkins FROM daily_measures FINAL WHERE {window} ORDER BY day",
        parameters=parameters,
    )
    scores = client.query(
        "SELECT day, college, daily_score, score_7d, band FROM daily_scores FINAL "
        f"WHERE {window} ORDER BY day",
        parameters=parameters,
    )
    return rows_as_dicts(measures), rows_as_dicts(scores)


def student_profile(client: Client, tenant: str, student_id: str) -> dict[str, Any] | None:
    rows = rows_as_dicts(client.query(
        "SELECT college, programme, year_group, tutor_id, updated_at FROM students FINAL "
        f"WHERE {student_filter()}",
        parameters={"tenant": tenant, "student": student_id},
    ))
    return rows[0] if rows else None


def consent_history(client: Client, tenant: str, student_id: str) -> list[dict[str, Any]]:
    return rows_as_dicts(client.query(
        "SELECT event_id, granted, occurred_at, received_at FROM consent_log FINAL "
        f"WHERE {student_filter()} ORDER BY occurred_at",
        parameters={"tenant": tenant, "student": student_id},
    ))


def table_counts(client: Client, tables: Iterable[str], tenant: str | None = None
                 ) -> dict[str, int]:
    """Rows per table; of one tenant's only when `tenant` is given (a dead letter by its key)."""
    counts = {}
    for table in tables:
        where = ""
        if tenant is not None:
            where = (" WHERE startsWith(ifNull(key, ''), {prefix:String})"
                     if table == "dead_letters" else " WHERE tenant = {tenant:String}")
        counts[table] = int(client.query(
            f"SELECT count() FROM {table} FINAL{where}",
            parameters={"tenant": tenant or "", "prefix": f"{tenant}:"}).result_rows[0][0])
    return counts


def students_with_activity(client: Client, tenant: str, since: datetime
                           ) -> list[tuple[str, str | None]]:
    result = client.query(
        "SELECT a.student_id, any(s.college) FROM (SELECT DISTINCT student_id FROM activity "
        "WHERE tenant = {tenant:String} AND occurred_at >= {since:DateTime64(3, 'UTC')}) AS a "
        "LEFT JOIN (SELECT student_id, college FROM students FINAL "
        "WHERE tenant = {tenant:String}) AS s ON a.student_id = s.student_id "
        "GROUP BY a.student_id ORDER BY a.student_id",
        parameters={"tenant": tenant, "since": since},
    )
    return [(row[0], row[1]) for row in result.result_rows]


def daily_scores_between(client: Client, tenant: str, student_id: str, first: date, last: date
                         ) -> dict[date, float]:
    result = client.query(
        "SELECT day, daily_score FROM daily_scores FINAL WHERE " + student_filter()
        + " AND day BETWEEN {first:Date} AND {last:Date}",
        parameters={"tenant": tenant, "student": student_id, "first": first, "last": last},
    )
    return {row[0]: float(row[1]) for row in result.result_rows}


def latest_score_day(client: Client, tenant: str) -> date | None:
    """The newest day with a score row for the tenant: the current day its worker reached."""
    result = client.query(
        "SELECT max(day), count() FROM daily_scores WHERE tenant = {tenant:String}",
        parameters={"tenant": tenant},
    )
    latest, rows = result.result_rows[0]
    return latest if rows else None


STUDENT_TABLES: dict[str, str] = {
    "activity": "SELECT event_id, type, occurred_at, day, module, detail, source, received_at "
                "FROM activity FINAL WHERE {filter} ORDER BY occurred_at, event_id",
    "measures": "SELECT day, ele_minutes, minutes_by_module, no_module_minutes, app_choices, "
                "event_checkins FROM daily_measures FINAL WHERE {filter} ORDER BY day",
    "scores": "SELECT day, college, daily_score, score_7d, band FROM daily_scores FINAL "
              "WHERE {filter} ORDER BY day",
    "alerts": "SELECT alert_id, tutor_id, rule, day, evidence, status, created_at "
              "FROM review_queue FINAL WHERE {filter} ORDER BY created_at, alert_id",
    "decisions": "SELECT event_id, alert_id, decision, tutor_id, note, exempt_until, occurred_at "
                 "FROM review_decisions FINAL WHERE {filter} ORDER BY occurred_at, event_id",
    "attendance": "SELECT session_id, event_id, occurred_at, day, status FROM attendance FINAL "
                  "WHERE {filter} ORDER BY occurred_at, session_id",
    "consent": "SELECT event_id, granted, occurred_at, received_at FROM consent_log FINAL "
               "WHERE {filter} ORDER BY occurred_at, event_id",
    "roster": "SELECT college, programme, year_group, tutor_id, updated_at FROM students FINAL "
              "WHERE {filter}",
    "privacy_audit": "SELECT action, reason, deleted_rows, at FROM privacy_audit "
                     "WHERE {filter} ORDER BY at",
    "dead_letters": "SELECT topic, partition, offset, original, original_encoding, reason, "
                    "detail, dead_lettered_at FROM dead_letters FINAL WHERE {by_key} "
                    "ORDER BY dead_lettered_at, topic, partition, offset",
}


def everything_about(client: Client, tenant: str, student_id: str
                     ) -> dict[str, list[dict[str, Any]]]:
    """Subject access: every row held about one student, table by table."""
    parameters = {"tenant": tenant, "student": student_id, "key": f"{tenant}:{student_id}"}
    return {
        name: rows_as_dicts(client.query(
            sql.format(filter=student_filter(), by_key=dead_letter_filter()),
            parameters=parameters))
        for name, sql in STUDENT_TABLES.items()
    }


ALERT_COLUMNS = ("alert_id, tenant, student_id, tutor_id, rule, day, evidence, status, "
                 "created_at, updated_at")


def alerts_by_id(client: Client, alert_ids: Iterable[str]) -> list[dict[str, Any]]:
    ids = sorted(set(alert_ids))
    if not ids:
        return []
    return rows_as_dicts(client.query(
        f"SELECT {ALERT_COLUMNS} FROM review_queue FINAL WHERE alert_id IN {{ids:Array(String)}}",
        parameters={"ids": ids},
    ))


def alert_rows(client: Client, alert_ids: Iterable[str]) -> list[ReviewQueueRow]:
    """The latest row of each alert, as the batch path moves it on."""
    ids = sorted(set(alert_ids))
    if not ids:
        return []
    result = client.query(
        f"SELECT {', '.join(ReviewQueueRow._fields)} FROM review_queue FINAL "
        "WHERE alert_id IN {ids:Array(String)}",
        parameters={"ids": ids},
    )
    return [ReviewQueueRow(*row) for row in result.result_rows]


def review_list(client: Client, tenant: str, tutor_id: str | None, status: str | None
                ) -> list[dict[str, Any]]:
    conditions = ["tenant = {tenant:String}"]
    if tutor_id:
        # The tutor's tutees as the roster has them now, whoever was their tutor when raised.
        conditions.append("student_id IN (SELECT student_id FROM students FINAL "
                          "WHERE tenant = {tenant:String} AND tutor_id = {tutor:String})")
    if status:
        conditions.append("status = {status:String}")
    return rows_as_dicts(client.query(
        f"SELECT {ALERT_COLUMNS} FROM review_queue FINAL WHERE {' AND '.join(conditions)} "
        "ORDER BY created_at, alert_id",
        parameters={"tenant": tenant, "tutor": tutor_id or "", "status": status or ""},
    ))
