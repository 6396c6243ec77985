"""The HTTP gateway over real HTTP against a running worker and the real broker."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import TEST_TENANTS
from tests.support.events import event
from tests.support.worker import EngineEnv, WorkerProcess

pytestmark = pytest.mark.integration


def wait_rows(worker: WorkerProcess, table: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.query("summary")["rows"][table] >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"{table} never reached {count} rows:\n{worker.log()}")


@pytest.fixture
def secured_env(engine_env: EngineEnv, tmp_path: Path) -> EngineEnv:
    tenants = json.loads(json.dumps(TEST_TENANTS))
    tenants["tenants"]["optin-test"]["gateway_token"] = "s3cret-token"
    path = tmp_path / "secured.yaml"
    path.write_text(yaml.safe_dump(tenants))
    engine_env.tenant_config = path
    engine_env.extra["ENGAGE_GATEWAY_MAX_BYTES"] = "4096"
    return engine_env


def test_events_endpoint_answers_per_event_and_produces_the_valid_ones(
    secured_env: EngineEnv,
) -> None:
    worker = WorkerProcess(secured_env).start()
    try:
        now = datetime.now(tz=UTC) - timedelta(hours=2)
        valid = event("vle.click", "s1", now, module="BIO1001")
        batch = [
            valid,
            {"type": "vle.click", "tenant": "uni-test"},
            event("vle.click", "s1", now, tenant="nowhere", module="X"),
            event("app.menu_choice", "s9", now, tenant="optin-test", menu_item="news"),
            valid,
        ]
        status, body = worker.post("/v1/events", json.dumps(batch).encode(),
                                   {"Content-Type": "application/json"})
        assert status == 200
        assert [r["status"] for r in body["results"]] == [
            "accepted", "rejected", "rejected", "rejected", "accepted"]
        assert body["results"][1]["reason"] == "schema_violation"
        assert "event_id" in body["results"][1]["detail"]
        assert body["results"][2]["reason"] == "unknown_tenant"
        assert body["results"][3]["reason"] == "unauthorized"

        lines = "\n".join(json.dumps(e) for e in [
            event("app.menu_choice", "s9", now, tenant="optin-test", menu_item="news")])
        status, body = worker.post("/v1/events", lines.encode(),
                                   {"Authorization": "Bearer s3cret-token"})
        assert status == 200
        assert body["accepted"] == 1

        status, body = worker.post("/v1/events", b"x" * 5000)
        assert status == 413
        assert body["limit_bytes"] == 4096

        status, body = worker.post("/v1/events", b"{not json")
        assert status == 400

        # the valid click was sent twice: stored and counted once
        wait_rows(worker, "activity", 1)
        time.sleep(2)
        assert worker.query("summary")["rows"]["activity"] == 1
    finally:
        worker.stop()


def test_xapi_statements_over_http(engine_env: EngineEnv, worker: WorkerProcess) -> None:
    worker.start()
    when = (datetime.now(tz=UTC) - timedelta(hours=3)).isoformat()
    actor = {"account": {"name": "s7", "homePage": "https://vle.example.ac.uk"}}
    statements = [
        {"id": "5a1e0c52-0000-4000-8000-000000000001", "actor": actor,
         "verb": {"id": "http://id.tincanapi.com/verb/viewed"},
         "object": {"id": "https://vle.example.ac.uk/mod/page/view.php?id=3"},
         "context": {"extensions": {"http://xapi.jisc.ac.uk/courseArea": {
             "http://xapi.jisc.ac.uk/vle_mod_id": "BIO1001"}}},
         "timestamp": when},
        {"id": "5a1e0c52-0000-4000-8000-000000000002", "actor": actor,
         "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"},
         "object": {"id": "https://timetable.example.ac.uk/bio1001/l3",
                    "definition": {"type": "http://xapi.jisc.ac.uk/event_timetabled"}},
         "result": {"completion": True}, "timestamp": when},
        {"id": "5a1e0c52-0000-4000-8000-000000000003", "actor": actor,
         "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
         "object": {"id": "https://vle.example.ac.uk/quiz/1"}, "timestamp": when},
    ]
    status, body = worker.post("/xapi/statements?tenant=uni-test",
                               json.dumps(statements).encode(),
                               {"X-Experience-API-Version": "1.0.3"})
    assert status == 200
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted", "ignored"]
    assert body["results"][2]["verb"] == "http://adlnet.gov/expapi/verbs/answered"
    wait_rows(worker, "activity", 1)
    wait_rows(worker, "attendance", 1)
    status, _ = worker.post("/xapi/statements", b"[]")
    assert status == 400
