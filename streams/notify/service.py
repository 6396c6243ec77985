"""`engage notify`: batched digests of review alerts to tutors, by webhook and/or email.

Tutors only: a digest goes to the tutor named on each alert, never to a student. Each tenant
keeps its own pace: a tenant's digests go out `notify.digest_seconds` (that tenant's) after the
oldest alert waiting in them arrived, so its tutors get at most one digest per that interval
whatever other tenants use. Offsets are committed only up to the oldest alert still waiting, and
past the others once the digests holding them were delivered (or given up on after the retries,
which is counted and logged), so a restart re-sends rather than loses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import smtplib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field

from schemas.records import ReviewAlert
from schemas.topics import REVIEW_ALERTS
from scoring.config import NotifyConfig
from streams.errors import DeliveryRefused
from streams.metrics import EXPOSITION_TYPE, NotifierMetrics, render
from streams.settings import Settings, SmtpSettings

log = logging.getLogger(__name__)

DEFAULT_DIGEST_SECONDS = 60.0
POLL_SECONDS = 0.5  # the longest the loop waits for records before it looks at the clock again
COMMIT_SECONDS = 5.0  # offsets of alerts that need no digest are committed at least this often


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
        # per tenant: when (monotonic) its oldest waiting alert arrived, and per partition the
        # offset of its oldest waiting alert (what the consumer may not commit past)
        self.waiting_since: dict[str, float] = {}
        self.held: dict[str, dict[TopicPartition, int]] = {}

    def config_for(self, tenant: str) -> NotifyConfig | None:
        tenant_config = self.settings.tenants.get(tenant)
        return tenant_config.notify if tenant_config else None

    def take(self, alert: ReviewAlert, now: float,
             source: tuple[TopicPartition, int] | None = None) -> None:
        """Queue an alert for its tutor's next digest; `source` is its partition and offset."""
        self.metrics.alerts_consumed.inc()
        if not alert.tutor_id:
            log.warning("alert %s names no tutor; it stays in the review queue", alert.alert_id)
            return
        if self.config_for(alert.tenant) is None:
            log.warning("alert %s is for tenant %r, which is not configured; no digest",
                        alert.alert_id, alert.tenant)
            return
        key = (alert.tenant, alert.tutor_id)
        self.pending.setdefault(key, Digest(alert.tenant, alert.tutor_id)).alerts.append(alert)
        self.waiting_since.setdefault(alert.tenant, now)
        if source is not None:
            partition, offset = source
            held = self.held.setdefault(alert.tenant, {})
            held[partition] = min(offset, held.get(partition, offset))

    def intervals(self) -> dict[str, float]:
        return {name: t.notify.digest_seconds for name, t in self.settings.tenants.items()}

    def schedule(self, now: float) -> Schedule:
        return digest_schedule(self.intervals(), self.waiting_since, now)

    async def deliver_due(self, session: aiohttp.ClientSession, tenants: Iterable[str]) -> int:
        """Deliver (or give up on) every waiting digest of these tenants; returns how many."""
        chosen = set(tenants)
        digests = [d for key, d in self.pending.items() if key[0] in chosen]
        self.pending = {key: d for key, d in self.pending.items() if key[0] not in chosen}
        for tenant in chosen:
            self.waiting_since.pop(tenant, None)
            self.held.pop(tenant, None)
        for digest in digests:
            await self.deliver(session, digest)
        return len(digests)

    async def deliver_all(self, session: aiohttp.ClientSession) -> int:
        return await self.deliver_due(session, list(self.waiting_since))

    def committable(self, consumed: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        return committable_offsets(consumed, self.held.values())

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


@dataclass(frozen=True)
class Schedule:
    due: tuple[str, ...]  # tenants whose digests should go out now
    wake_at: float | None  # when the next of the others falls due; None when nothing waits


def digest_schedule(intervals: Mapping[str, float], waiting_since: Mapping[str, float],
                    now: float) -> Schedule:
    """Which tenants' digests are due at `now`, and when the next of the rest will be.

    A tenant is due once its own interval (`intervals`, default 60 s) has passed since its
    oldest waiting alert arrived (`waiting_since`); tenants with nothing waiting are never due.
    Since a delivery empties the tenant's queue, its next digest is at least an interval later.
    """
    due: list[str] = []
    later: list[float] = []
    for tenant, since in waiting_since.items():
        at = since + intervals.get(tenant, DEFAULT_DIGEST_SECONDS)
        if at <= now:
            due.append(tenant)
        else:
            later.append(at)
    return Schedule(tuple(sorted(due)), min(later, default=None))


def committable_offsets(consumed: Mapping[TopicPartition, int],
                        held: Iterable[Mapping[TopicPartition, int]]
                        ) -> dict[TopicPartition, int]:
    """The offset to commit per partition: past everything read (`consumed`: next offset to
    read), except never past the oldest alert still waiting for a digest (`held`)."""
    offsets = dict(consumed)
    for tenant_held in held:
        for partition, offset in tenant_held.items():
            if partition in offsets:
                offsets[partition] = min(offsets[partition], offset)
    return offsets


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
    consumed: dict[TopicPartition, int] = {}  # per partition, the next offset to read
    committed: dict[TopicPartition, int] = {}
    last_commit = time.monotonic()

    async def commit(offsets: dict[TopicPartition, int]) -> None:
        nonlocal last_commit
        assigned = consumer.assignment()
        offsets = {tp: o for tp, o in offsets.items()
                   if tp in assigned and committed.get(tp) != o}
        if offsets:
            await consumer.commit(offsets)
            committed.update(offsets)
        last_commit = time.monotonic()

    try:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                wake_at = notifier.schedule(time.monotonic()).wake_at
                wait = POLL_SECONDS if wake_at is None else min(
                    POLL_SECONDS, max(0.0, wake_at - time.monotonic()))
                batch = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=1000)
                now = time.monotonic()
                for partition, records in batch.items():
                    for record in records:
                        consumed[partition] = record.offset + 1
                        try:
                            alert = ReviewAlert.model_validate_json(record.value or b"")
                        except ValueError as exc:
                            log.warning("skipping a malformed alert at offset %d: %s",
                                        record.offset, exc)
                            continue
                        notifier.take(alert, now, (partition, record.offset))
                due = notifier.schedule(time.monotonic()).due
                if due:
                    await notifier.deliver_due(session, due)
                    await commit(notifier.committable(consumed))
                elif time.monotonic() - last_commit >= COMMIT_SECONDS:
                    await commit(notifier.committable(consumed))
            await notifier.deliver_all(session)
            await commit(notifier.committable(consumed))
    finally:
        await consumer.stop()
        await runner.cleanup()
