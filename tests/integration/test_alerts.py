"""Alerts for human review through the real broker: few, explained, decided by a person."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.events import event
from tests.support.worker import EngineEnv, WorkerProcess, send

pytestmark = pytest.mark.integration
TENANT = "optin-test"


def active_day(student: str, day: datetime) -> list[dict[str, Any]]:
    clicks = [event("vle.click", student, day + timedelta(minutes=2 * k), tenant=TENANT,
                    module="BIO1001") for k in range(10)]
    return [*clicks, event("app.menu_choice", student, day + timedelta(hours=2), tenant=TENANT,
                           menu_item="library")]


def history(days: int, start: datetime) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        events += active_day("steady", day)
        if offset < days - 5:
            events += active_day("dropper", day)
        events.append(event("vle.click", "private", day, tenant=TENANT, module="BIO1001"))
        status = "absent" if offset >= days - 3 else "present"
        events.append(event("attendance.swipe", "private", day + timedelta(hours=1),
                            tenant=TENANT, session_id=f"BIO-{offset}", status=status))
    return sorted(events, key=lambda e: e["occurred_at"])


def review_list(env: EngineEnv, *args: str) -> list[dict[str, Any]]:
    result = env.engage("review", "list", "--tenant", TENANT, "--json", *args)
    alerts: list[dict[str, Any]] = json.loads(result.stdout)
    return alerts


def test_a_drop_raises_one_explained_alert_that_a_tutor_closes(
    engine_env: EngineEnv, worker: WorkerProcess, tmp_path: Path
) -> None:
    worker.start()
    start = (datetime.now(tz=UTC) - timedelta(days=31)).replace(hour=9, minute=0, second=0,
                                                                 microsecond=0)
    setup = [
        event("roster.student", s, start - timedelta(days=1), tenant=TENANT, college="CLES",
              tutor_id="t-ada")
        for s in ("steady", "dropper", "private")
    ] + [event("consent.changed", s, start - timedelta(days=1), tenant=TENANT, granted=True)
         for s in ("steady", "dropper")]
    send(engine_env, worker, setup)
    send(engine_env, worker, history(30, start))
    # the next morning's activity moves event time past the last day's settling period
    morning = start + timedelta(days=30, hours=-1)
    send(engine_env, worker, active_day("steady", morning))

    alerts = review_list(engine_env)
    by_student: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        by_student.setdefault(alert["student_id"], []).append(alert)
    assert "steady" not in by_student
    drops = [a for a in by_student.get("dropper", []) if a["rule"] == "engagement_drop"]
    assert len(drops) == 1
    drop = drops[0]
    assert drop["status"] == "pending_review"
    assert drop["tutor_id"] == "t-ada"
    assert drop["evidence"]["score_7d"] < 0.5 * drop["evidence"]["baseline"]
    assert drop["evidence"]["threshold_ratio"] == 0.5
    private_rules = {a["rule"] for a in by_student.get("private", [])}
    assert private_rules == {"attendance"}

    engine_env.engage("review", "decide", drop["alert_id"], "--decision", "contacted",
                      "--note", "Spoke after the seminar")
    deadline = time.monotonic() + 60
    while True:
        decided = [a for a in review_list(engine_env, "--status", "contacted")
                   if a["alert_id"] == drop["alert_id"]]
        if decided:
            break
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.5)
    assert review_list(engine_env, "--tutor", "nobody") == []
    exported = json.loads(engine_env.engage("export-student", "--tenant", TENANT, "--student",
                                            "dropper", "--json").stdout)
    assert [d["decision"] for d in exported["decisions"]] == ["contacted"]
    assert exported["decisions"][0]["note"] == "Spoke after the seminar"
