"""The notifier delivers batched digests to a real local HTTP server and a real SMTP server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller

from schemas.records import ReviewAlert
from tests.conftest import TEST_TENANTS
from tests.support.broker import ROOT, free_port
from tests.support.worker import EngineEnv

pytestmark = pytest.mark.integration


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


def alert(student: str, tutor: str, rule: str, tenant: str = "uni-test") -> ReviewAlert:
    return ReviewAlert(alert_id=f"al-{student}-{rule}", tenant=tenant, student_id=student,
                       tutor_id=tutor, rule=rule, day=date(2026, 11, 20),
                       evidence={"score_7d": 1.5, "baseline": 6.0}, status="pending_review",
                       created_at=datetime(2026, 11, 21, 6, tzinfo=UTC))


async def publish(bootstrap: str, alerts: list[ReviewAlert]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for item in alerts:
            await producer.send_and_wait("engage.review.alerts", item.model_dump_json().encode(),
                                         key=f"{item.tenant}:{item.student_id}".encode())
    finally:
        await producer.stop()


def serve_webhook(loop: asyncio.AbstractEventLoop,
                  hook: Callable[[web.Request], Awaitable[web.Response]], port: int
                  ) -> web.AppRunner:
    """A real local HTTP server taking digests at POST /digest, run on `loop`."""
    app = web.Application()
    app.router.add_post("/digest", hook)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    return runner


def test_digests_reach_tutors_by_webhook_and_email(engine_env: EngineEnv, tmp_path: Path
                                                   ) -> None:
    received: list[dict[str, Any]] = []
    attempts = {"count": 0}

    async def hook(request: web.Request) -> web.Response:
        attempts["count"] += 1
        if attempts["count"] == 1:
            return web.Response(status=503)  # the first try fails: the notifier retries
        assert request.headers["Authorization"] == "Bearer hook-secret"
        received.append(await request.json())
        return web.Response(status=204)

    http_port = free_port()
    smtp_port = free_port()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    loop = asyncio.new_event_loop()
    runner = serve_webhook(loop, hook, http_port)

    tenants = json.loads(json.dumps(TEST_TENANTS))
    tenants["tenants"]["uni-test"]["notify"] = {
        "webhook_url": f"http://127.0.0.1:{http_port}/digest",
        "webhook_token": "hook-secret",
        "email_from": "engagement@example.ac.uk",
        "tutor_emails": {"t-ada": "ada@example.ac.uk"},
        "digest_seconds": 1.0,
    }
    config = tmp_path / "notify.yaml"
    config.write_text(yaml.safe_dump(tenants))
    engine_env.tenant_config = config
    env = engine_env.env()
    env.update(ENGAGE_SMTP_HOST="127.0.0.1", ENGAGE_SMTP_PORT=str(smtp_port),
               ENGAGE_NOTIFY_WEB_PORT=str(free_port()))
    loop.run_until_complete(publish(engine_env.bootstrap, [
        alert("s1", "t-ada", "engagement_drop"), alert("s2", "t-ada", "inactivity"),
        alert("s3", "t-bo", "attendance")]))
    notifier = subprocess.Popen([sys.executable, "-m", "streams.cli", "notify"], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while (len(received) < 2 or not inbox.messages) and time.monotonic() < deadline:
            loop.run_until_complete(asyncio.sleep(0.3))
    finally:
        notifier.terminate()
        output = notifier.communicate(timeout=30)[0].decode()
        loop.run_until_complete(runner.cleanup())
        loop.close()
        smtp.stop()

    assert attempts["count"] >= 3, output
    digests = {d["tutor_id"]: d for d in received}
    assert sorted(digests) == ["t-ada", "t-bo"]
    assert sorted(a["student_id"] for a in digests["t-ada"]["alerts"]) == ["s1", "s2"]
    assert digests["t-bo"]["alerts"][0]["rule"] == "attendance"
    assert len(inbox.messages) == 1
    recipients, message = inbox.messages[0]
    assert recipients == ["ada@example.ac.uk"]
    body = message.get_payload()
    assert "engagement_drop" in body
    assert "inactivity" in body
    assert "no action has been taken" in body.lower()


def test_each_tenant_gets_digests_on_its_own_interval(engine_env: EngineEnv, tmp_path: Path
                                                      ) -> None:
    """A tenant on 1 s digests gets two while a tenant on 60 s digests still waits; the waiting
    digest is not lost: it goes out when the notifier stops."""
    received: list[tuple[float, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((time.monotonic(), await request.json()))
        return web.Response(status=204)

    def tenants_seen() -> list[str]:
        return [digest["tenant"] for _, digest in received]

    http_port = free_port()
    loop = asyncio.new_event_loop()
    runner = serve_webhook(loop, hook, http_port)

    tenants = json.loads(json.dumps(TEST_TENANTS))
    url = f"http://127.0.0.1:{http_port}/digest"
    tenants["tenants"]["uni-test"]["notify"] = {"webhook_url": url, "digest_seconds": 1.0}
    tenants["tenants"]["optin-test"]["notify"] = {"webhook_url": url, "digest_seconds": 60.0}
    config = tmp_path / "notify.yaml"
    config.write_text(yaml.safe_dump(tenants))
    engine_env.tenant_config = config
    env = engine_env.env()
    env.update(ENGAGE_NOTIFY_WEB_PORT=str(free_port()))
    loop.run_until_complete(publish(engine_env.bootstrap, [
        alert("s1", "t-ada", "inactivity", tenant="optin-test"),
        alert("s2", "t-bo", "inactivity", tenant="uni-test")]))

    def wait_until(done: Any, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            loop.run_until_complete(asyncio.sleep(0.1))

    notifier = subprocess.Popen([sys.executable, "-m", "streams.cli", "notify"], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "uni-test" in tenants_seen(), 60)
        loop.run_until_complete(publish(engine_env.bootstrap, [
            alert("s3", "t-bo", "attendance", tenant="uni-test")]))
        wait_until(lambda: tenants_seen().count("uni-test") >= 2, 30)
        before_stop = tenants_seen()
        notifier.terminate()
        # keep serving while it stops: the slow tenant's waiting digest goes out then
        wait_until(lambda: notifier.poll() is not None, 30)
    finally:
        if notifier.poll() is None:
            notifier.kill()
        output = notifier.communicate(timeout=30)[0].decode()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    assert before_stop == ["uni-test", "uni-test"], output
    fast = [(at, d) for at, d in received if d["tenant"] == "uni-test"]
    assert [a["student_id"] for _, d in fast for a in d["alerts"]] == ["s2", "s3"]
    assert fast[1][0] - fast[0][0] >= 1.0
    assert tenants_seen() == ["uni-test", "uni-test", "optin-test"], output
    assert received[-1][1]["alerts"][0]["student_id"] == "s1"
