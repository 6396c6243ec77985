"""`engage notify`: batched digests of review alerts to tutors, by webhook and/or email.

Tutors only: a digest goes to the tutor named on each alert, never to a student. Offsets are
committed after the digests holding those alerts were delivered (or given up on after the
retries, which is counted and logged), so a restart re-sends rather than loses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import smtplib
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.records import ReviewAlert
from schemas.topics import REVIEW_ALERTS
from scoring.config import NotifyConfig
from streams.metrics import EXPOSITION_TYPE, NotifierMetrics, render
from streams.settings import Settings

log = logging.getLogger(__name__)


class SmtpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENGAGE_SMTP_", frozen=True, extra="ignore")

    host: str | None = None
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False


class RetryPolicy(BaseModel):
    attempts: int = Field(default=5, ge=1)
    first_delay: float = Field(default=0.5, gt=0)
    max_delay: float = Field(default=30.0, gt=0)


@dataclass
class Digest:
    tenant: str
    tutor_id: str
    alerts: list[ReviewAlert] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "tutor_id": self.tutor_id,
            "summary": f"{len(self.alerts)} student(s) to review",
            "alerts": [json.loads(a.model_dump_json()) for a in self.alerts],
            "note": "Alerts are prompts for a conversation, for your review; "
                    "no action has been taken about any student.",
        }

    def text(self) -> str:
        lines = [f"{len(self.alerts)} alert(s) are waiting for your review:", ""]
        for alert in self.alerts:
            evidence = ", ".join(f"{k}={v}" for k, v in alert.evidence.items())
            lines.append(f"- {alert.student_id}: {alert.rule} on {alert.day} ({evidence})")
            lines.append(f"  decide: engage review decide {alert.alert_id} --decision ...")
        lines += ["", "No action has been taken about any student; the decision is yours."]
        return "\n".join(lines)


class Notifier:
    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None,
                 smtp: SmtpSettings | None = None, retry: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.metrics = NotifierMetrics(self.registry)
        self.smtp = smtp or SmtpSettings()
        self.retry = retry or RetryPolicy()
        self.pending: dict[tuple[str, str], Digest] = {}

    def config_for(self, tenant: str) -> NotifyConfig | None:
        tenant_config = self.settings.tenants.get(tenant)
        return tenant_config.notify if tenant_config else None

    def take(self, alert: ReviewAlert) -> None:
        self.metrics.alerts_consumed.inc()
        if not alert.tutor_id:
            log.warning("alert %s names no tutor; it stays in the review queue", alert.alert_id)
            return
        key = (alert.tenant, alert.tutor_id)
        self.pending.setdefault(key, Digest(alert.tenant, alert.tutor_id)).alerts.append(alert)

    async def deliver_all(self, session: aiohttp.ClientSession) -> int:
        digests, self.pending = list(self.pending.values()), {}
        for digest in digests:
            await self.deliver(session, digest)
        return len(digests)

    async def deliver(self, session: aiohttp.ClientSession, digest: Digest) -> None:
        config = self.config_for(digest.tenant)
        if config is None:
            return
        if config.webhook_url:
            await self._with_retries("webhook", lambda: self._post(session, config, digest))
        email = config.tutor_emails.get(digest.tutor_id)
        if email and self.smtp.host and config.email_from:
            await self._with_retries(
                "email", lambda: asyncio.to_thread(self._send_email, config, email, digest))

    async def _with_retries(self, channel: str, attempt: Any) -> bool:
        delay = self.retry.first_delay
        for number in range(1, self.retry.attempts + 1):
            try:
                await attempt()
            except (OSError, aiohttp.ClientError, smtplib.SMTPException, DeliveryRefused) as exc:
                self.metrics.delivery_failures.labels(channel=channel).inc()
                log.warning("%s delivery failed (attempt %d/%d): %s", channel, number,
                            self.retry.attempts, exc)
                if number < self.retry.attempts:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry.max_delay)
                continue
            self.metrics.digests_sent.labels(channel=channel).inc()
            return True
        log.error("%s digest given up after %d attempts", channel, self.retry.attempts)
        return False

    async def _post(self, session: aiohttp.ClientSession, config: NotifyConfig, digest: Digest
                    ) -> None:
        headers = {"Content-Type": "application/json"}
        if config.webhook_token is not None:
            headers["Authorization"] = f"Bearer {config.webhook_token.get_secret_value()}"
        assert config.webhook_url is not None
        async with session.post(config.webhook_url, data=json.dumps(digest.payload()),
                                headers=headers, timeout=aiohttp.ClientTimeout(total=15)) as r:
            if r.status >= 300:
                raise DeliveryRefused(f"webhook answered {r.status}")

    def _send_email(self, config: NotifyConfig, to: str, digest: Digest) -> None:
        message = EmailMessage()
        message["From"] = config.email_from
        message["To"] = to
        message["Subject"] = f"[engagement] {len(digest.alerts)} student(s) to review"
        message.set_content(digest.text())
        assert self.smtp.host is not None
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=15) as client:
            if self.smtp.starttls:
                client.starttls()
            if self.smtp.username and self.smtp.password:
                client.login(self.smtp.username, self.smtp.password.get_secret_value())
            client.send_message(message)


class DeliveryRefused(Exception):
    """The receiving end answered, but refused the digest."""


def digest_interval(settings: Settings) -> float:
    intervals = [t.notify.digest_seconds for t in settings.tenants.values()]
    return min(intervals) if intervals else 60.0


async def _serve_metrics(notifier: Notifier) -> web.AppRunner:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=render(notifier.registry),
                            headers={"Content-Type": EXPOSITION_TYPE})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", health)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, notifier.settings.web_host,
                      notifier.settings.notify_web_port).start()
    return runner


async def run_notifier(settings: Settings, stop: asyncio.Event | None = None) -> None:
    notifier = Notifier(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = await _serve_metrics(notifier)
    consumer = AIOKafkaConsumer(
        REVIEW_ALERTS, **settings.kafka_client_options(), group_id="engage-notifier",
        enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    interval = digest_interval(settings)
    try:
        async with aiohttp.ClientSession() as session:
            next_flush = time.monotonic() + interval
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batch.values():
                    for record in records:
                        try:
                            notifier.take(ReviewAlert.model_validate_json(record.value or b""))
                        except ValueError as exc:
                            log.warning("skipping a malformed alert at offset %d: %s",
                                        record.offset, exc)
                if time.monotonic() >= next_flush:
                    if notifier.pending:
                        await notifier.deliver_all(session)
                    await consumer.commit()
                    next_flush = time.monotonic() + interval
            await notifier.deliver_all(session)
            await consumer.commit()
    finally:
        await consumer.stop()
        await runner.cleanup()
