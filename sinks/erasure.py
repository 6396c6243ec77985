"""Deletions: what a consent withdrawal removes from ClickHouse."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from schemas.topics import APP_MENU, EVENTS, VLE_CLICKS
from scoring.alerts import ENGAGEMENT_RULES
from sinks import queries

ENGAGEMENT_TABLES = ("activity", "daily_measures", "daily_scores")
# What a student's unreadable engagement events were sent on; withdrawal deletes those too.
ENGAGEMENT_TOPICS = (VLE_CLICKS, APP_MENU, EVENTS)


def delete_engagement(client: Client, tenant: str, student_id: str) -> dict[str, int]:
    """Delete one student's engagement activity, measures, scores and engagement alerts, and
    the dead letters of what they sent on the engagement topics.

    Returns the number of rows deleted per table (for the privacy audit)."""
    parameters = {"tenant": tenant, "student": student_id, "rules": list(ENGAGEMENT_RULES),
                  "key": f"{tenant}:{student_id}", "topics": list(ENGAGEMENT_TOPICS)}
    targets: list[tuple[str, str]] = [(t, queries.student_filter()) for t in ENGAGEMENT_TABLES]
    targets.append(("review_queue",
                    queries.student_filter() + " AND rule IN {rules:Array(String)}"))
    targets.append(("dead_letters",
                    queries.dead_letter_filter() + " AND topic IN {topics:Array(String)}"))
    deleted = {}
    for table, condition in targets:
        count = client.query(f"SELECT count() FROM {table} FINAL WHERE {condition}",
                             parameters=parameters).result_rows[0][0]
        client.command(
            f"ALTER TABLE {table} DELETE WHERE {condition}",
            parameters=parameters,
            settings={"mutations_sync": 2},
        )
        deleted[table] = int(count)
    return deleted
