"""The HTTP gateway over real HTTP against a running worker and the real broker."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import TEST_TENANTS
from tests.support.events import event, jsonl
from tests.support.worker import EngineEnv, WorkerProcess

pytestmark = pytest.mark.integration


def wait_rows(worker: WorkerProcess, table: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.query("summary")["rows"][table] >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"{table} never reached {count} rows:\n{worker.log()}")


def post_chunked(worker: WorkerProcess, path: str, pieces: Iterable[bytes]
                 ) -> tuple[int, str, bytes]:
    """POST with Transfer-Encoding: chunked (no Content-Length); status, content type, body."""
    connection = http.client.HTTPConnection("127.0.0.1", worker.env.web_port, timeout=60)
    try:
        connection.request("POST", path, body=iter(pieces))
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


@pytest.fixture
def secured_env(engine_env: EngineEnv, tmp_path: Path) -> EngineEnv:
    tenants = json.loads(json.dumps(TEST_TENANTS))
    tenants["tenants"]["closed-test"] = {"timezone": "Europe/London"}
    (tmp_path / "app-token").write_text("s3cret-token\n")
    tenants["tenants"]["optin-test"]["gateway"] = {"tokens": [
        # Rotation: the old token and the new one both work until the old one goes.
        {"name": "campus-app", "file": str(tmp_path / "app-token"),
         "types": ["app.menu_choice"]},
        {"name": "campus-app-next", "env": "ENGAGE_TEST_APP_TOKEN", "types": ["app.menu_choice"]},
        {"name": "student-records", "env": "ENGAGE_TEST_SIS_TOKEN",
         "types": ["roster.student", "consent.changed"]},
    ]}
    path = tmp_path / "secured.yaml"
    path.write_text(yaml.safe_dump(tenants))
    engine_env.tenant_config = path
    engine_env.extra["ENGAGE_TEST_APP_TOKEN"] = "next-app-token"
    engine_env.extra["ENGAGE_TEST_SIS_TOKEN"] = "records-token"
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
        # An unknown tenant is answered as a wrong token is: tenant names cannot be learnt.
        assert body["results"][2] == {**body["results"][3], "index": 2}
        assert body["results"][3]["reason"] == "unauthorized"

        lines = "\n".join(json.dumps(e) for e in [
            event("app.menu_choice", "s9", now, tenant="optin-test", menu_item="news")])
        status, body = worker.post("/v1/events", lines.encode(),
                                   {"Authorization": "Bearer s3cret-token"})
        assert status == 200
        assert body["accepted"] == 1

        # Each token sends only the event types it names; the next one works as well.
        mixed = [event("app.menu_choice", "s9", now, tenant="optin-test", menu_item="map"),
                 event("consent.changed", "s9", now, tenant="optin-test", granted=False)]
        status, body = worker.post("/v1/events", json.dumps(mixed).encode(),
                                   {"Authorization": "Bearer next-app-token"})
        assert status == 200
        assert [r["status"] for r in body["results"]] == ["accepted", "rejected"]
        assert body["results"][1]["reason"] == "forbidden"
        assert "may not send consent.changed" in body["results"][1]["detail"]
        status, body = worker.post("/v1/events", json.dumps(mixed[1:]).encode(),
                                   {"Authorization": "Bearer records-token"})
        assert body["accepted"] == 1
        # A tenant without tokens that is not open refuses every write, whoever sends it.
        closed = event("vle.click", "k1", now, tenant="closed-test", module="BIO1001")
        status, body = worker.post("/v1/events", json.dumps([closed]).encode(),
                                   {"Authorization": "Bearer s3cret-token"})
        assert status == 401
        assert body["results"][0]["reason"] == "unauthorized"

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


def test_bodies_that_are_not_utf8_json_lines_with_a_broken_line_and_chunked_uploads(
    secured_env: EngineEnv,
) -> None:
    worker = WorkerProcess(secured_env).start()
    try:
        now = datetime.now(tz=UTC) - timedelta(hours=2)
        for path in ("/v1/events", "/xapi/statements?tenant=uni-test"):
            status, body = worker.post(path, b'[{"type": "vle.click", "module": "M\xe9"}]')
            assert status == 400, body
            assert "UTF-8" in body["error"]

            status, content_type, raw = post_chunked(worker, path, [b"[" + b" " * 4096] * 3)
            assert status == 413, raw
            assert content_type.startswith("application/json")
            assert json.loads(raw)["limit_bytes"] == 4096

        lines = [json.dumps(event("vle.click", "s2", now, module="BIO1001")),
                 '{"type": "vle.click", "tenant": "uni-test"',
                 json.dumps(event("vle.click", "s3", now, module="BIO1001"))]
        status, body = worker.post("/v1/events", "\n".join(lines).encode())
        assert status == 200
        assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
        assert body["results"][1]["reason"] == "not_json"
        assert "line 2" in body["results"][1]["detail"]

        good = jsonl([event("vle.click", "s4", now, module="BIO1001")]).encode()
        status, _, raw = post_chunked(worker, "/v1/events", [good[:20], good[20:]])
        assert status == 200, raw
        assert json.loads(raw)["accepted"] == 1

        wait_rows(worker, "activity", 3)
    finally:
        worker.stop()


def test_malformed_xapi_statements_are_rejected_one_by_one(
    engine_env: EngineEnv, worker: WorkerProcess
) -> None:
    worker.start()
    when = (datetime.now(tz=UTC) - timedelta(hours=3)).isoformat()
    actor = {"account": {"name": "s8"}}
    viewed = {"id": "5a1e0c52-0000-4000-8000-000000000011", "actor": actor,
              "verb": {"id": "http://id.tincanapi.com/verb/viewed"},
              "object": {"id": "https://vle.example.ac.uk/mod/page/view.php?id=9"},
              "timestamp": when}
    statements = [
        viewed,
        {**viewed, "verb": "viewed"},
        {**viewed, "context": ["BIO1001"]},
        {**viewed, "context": {"contextActivities": {"grouping": ["course"]}}},
        {**viewed, "actor": {"account": "s8"}},
        "a statement",
        {"id": "5a1e0c52-0000-4000-8000-000000000012", "actor": actor,
         "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"},
         "object": {"id": "https://timetable.example.ac.uk/bio1001/l4",
                    "definition": {"type": "http://xapi.jisc.ac.uk/event_timetabled"}},
         "timestamp": when},
    ]
    status, body = worker.post("/xapi/statements?tenant=uni-test",
                               json.dumps(statements).encode())
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == [
        "accepted", "rejected", "rejected", "rejected", "rejected", "rejected", "accepted"]
    rejected = body["results"][1:6]
    assert {r["reason"] for r in rejected} == {"schema_violation"}
    assert [r["detail"].split(":")[0] for r in rejected] == [
        "verb", "context", "context.contextActivities.grouping[0]", "actor.account",
        "a statement must be a JSON object"]
    wait_rows(worker, "activity", 1)
    wait_rows(worker, "attendance", 1)
