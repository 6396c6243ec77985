"""Consent enforced in the stream, withdrawal that deletes, and subject access, through the
real broker and the real ClickHouse engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.clickhouse import open_clickhouse, rows
from tests.support.events import event
from tests.support.worker import EngineEnv, WorkerProcess, send

pytestmark = pytest.mark.integration

ENGAGEMENT_TABLES = ("activity", "daily_measures", "daily_scores")


def counts(client: Any, tenant: str, student: str) -> dict[str, int]:
    return {
        table: rows(client, f"SELECT count() FROM {table} FINAL WHERE tenant = {{t:String}} "
                            "AND student_id = {s:String}", t=tenant, s=student)[0][0]
        for table in (*ENGAGEMENT_TABLES, "attendance", "review_queue")
    }


def day_of_clicks(tenant: str, student: str, start: datetime, n: int = 4
                  ) -> list[dict[str, Any]]:
    return [event("vle.click", student, start + timedelta(minutes=2 * k), tenant=tenant,
                  module="BIO1001") for k in range(n)]


def test_opt_in_consent_withdrawal_and_subject_access(engine_env: EngineEnv,
                                                      worker: WorkerProcess,
                                                      tmp_path: Path) -> None:
    worker.start()
    start = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(days=2)
    tenant = "optin-test"
    roster = [event("roster.student", s, start - timedelta(days=30), tenant=tenant,
                    college="CLES", tutor_id="t1", ethnicity="withheld", disability="none")
              for s in ("never", "keen")]
    grant = event("consent.changed", "keen", start - timedelta(days=1), tenant=tenant,
                  granted=True)
    send(engine_env, worker, [*roster, grant])
    activity = [
        *day_of_clicks(tenant, "never", start),
        *day_of_clicks(tenant, "keen", start),
        event("app.menu_choice", "keen", start + timedelta(minutes=30), tenant=tenant,
              menu_item="library"),
        event("attendance.swipe", "keen", start, tenant=tenant, session_id="BIO-1"),
        event("attendance.swipe", "never", start, tenant=tenant, session_id="BIO-1"),
    ]
    send(engine_env, worker, activity)

    exported = json.loads(engine_env.engage("export-student", "--tenant", tenant, "--student",
                                            "keen", "--json").stdout)
    for key in ("activity", "measures", "scores", "alerts", "decisions", "attendance",
                "consent"):
        assert isinstance(exported[key], list)
    assert len(exported["activity"]) == 5
    assert exported["measures"]
    assert "withheld" not in json.dumps(exported)

    withdraw = event("consent.changed", "keen", start + timedelta(hours=1), tenant=tenant,
                     granted=False)
    after = day_of_clicks(tenant, "keen", start + timedelta(hours=2))
    send(engine_env, worker, [withdraw, *after])
    right_after = json.loads(engine_env.engage("export-student", "--tenant", tenant,
                                               "--student", "keen", "--json").stdout)
    assert {key: right_after[key] for key in ("activity", "measures", "scores", "alerts")} == {
        "activity": [], "measures": [], "scores": [], "alerts": []}
    assert len(right_after["attendance"]) == 1
    assert len(right_after["privacy_audit"]) == 1
    _status, body = worker.get("/metrics")
    metrics = body.decode()
    assert 'engage_roster_fields_dropped_total{reason="special_category"} 4.0' in metrics
    assert 'engage_events_without_consent_total{tenant="optin-test"} 8.0' in metrics
    regrant_at = start + timedelta(hours=3)
    send(engine_env, worker,
         [event("consent.changed", "keen", regrant_at, tenant=tenant, granted=True),
          *day_of_clicks(tenant, "keen", regrant_at + timedelta(minutes=1), n=1)])
    exported_after = engine_env.engage("export-student", "--tenant", tenant, "--student", "keen",
                                       "--json").stdout
    worker.stop()

    with open_clickhouse(engine_env.clickhouse_path) as client:
        never = counts(client, tenant, "never")
        keen = counts(client, tenant, "keen")
        audit = rows(client, "SELECT action, reason, deleted_rows FROM privacy_audit "
                             "WHERE student_id = 'keen'")
        minutes_after = rows(client, "SELECT sum(ele_minutes) FROM daily_measures FINAL "
                                     "WHERE student_id = 'keen'")
        unconsented = rows(client, "SELECT sum(events) FROM unconsented_daily "
                                   "WHERE tenant = 'optin-test'")
        stored = {
            "activity": rows(client, "SELECT event_id FROM activity FINAL "
                                     "WHERE student_id = 'keen' ORDER BY occurred_at, event_id"),
            "attendance": rows(client, "SELECT session_id FROM attendance FINAL "
                                       "WHERE student_id = 'keen'"),
            "consent": rows(client, "SELECT event_id FROM consent_log FINAL "
                                    "WHERE student_id = 'keen' ORDER BY occurred_at, event_id"),
        }
    assert never == {"activity": 0, "daily_measures": 0, "daily_scores": 0, "attendance": 1,
                     "review_queue": 0}
    assert keen["attendance"] == 1
    assert keen["activity"] == 1, "only the click after the new grant is held"
    assert minutes_after == [(2.0,)], "stream state forgot the withdrawn days"
    assert audit[0][:2] == ("delete_engagement", "consent withdrawn")
    assert audit[0][2]["activity"] == 5
    assert audit[0][2]["daily_measures"] >= 1
    assert unconsented == [(8,)]
    held = json.loads(exported_after)
    assert [(a["event_id"],) for a in held["activity"]] == stored["activity"]
    assert [(a["session_id"],) for a in held["attendance"]] == stored["attendance"]
    assert [(c["event_id"],) for c in held["consent"]] == stored["consent"]
    assert len(held["privacy_audit"]) == 1


def test_notice_mode_processes_until_an_opt_out(engine_env: EngineEnv, worker: WorkerProcess,
                                                tmp_path: Path) -> None:
    worker.start()
    start = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(days=1)
    tenant = "uni-test"
    send(engine_env, worker, [
        event("roster.student", "n1", start - timedelta(days=3), tenant=tenant, college="CLES"),
        *day_of_clicks(tenant, "n1", start),
    ])
    assert worker.query("summary")["rows"]["daily_measures"] == 1
    send(engine_env, worker, [
        event("consent.changed", "n1", start + timedelta(hours=1), tenant=tenant,
              granted=False),
        *day_of_clicks(tenant, "n1", start + timedelta(hours=2)),
    ])
    worker.stop()
    with open_clickhouse(engine_env.clickhouse_path) as client:
        assert counts(client, tenant, "n1") == {
            "activity": 0, "daily_measures": 0, "daily_scores": 0, "attendance": 0,
            "review_queue": 0}
