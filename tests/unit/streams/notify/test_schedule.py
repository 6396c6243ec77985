"""Each tenant's digests follow that tenant's own `digest_seconds` (no broker, no network)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import aiohttp
import yaml
from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import ReviewAlert
from streams.notify.service import Notifier, committable_offsets, digest_schedule
from streams.settings import Settings

P0 = TopicPartition("engage.review.alerts", 0)
P1 = TopicPartition("engage.review.alerts", 1)


def test_only_the_tenant_whose_own_interval_passed_is_due() -> None:
    intervals = {"minutely": 60.0, "hourly": 3600.0}
    waiting = {"minutely": 1000.0, "hourly": 1000.0}
    early = digest_schedule(intervals, waiting, now=1059.0)
    assert early.due == ()
    assert early.wake_at == 1060.0
    minute = digest_schedule(intervals, waiting, now=1060.0)
    assert minute.due == ("minutely",)
    assert minute.wake_at == 4600.0
    assert digest_schedule(intervals, waiting, now=4600.0).due == ("hourly", "minutely")


def test_nothing_waiting_means_nothing_due_and_no_wake_up() -> None:
    schedule = digest_schedule({"a": 1.0}, {}, now=1e9)
    assert schedule.due == ()
    assert schedule.wake_at is None


def test_a_tenant_without_an_interval_gets_the_default_minute() -> None:
    assert digest_schedule({}, {"x": 0.0}, now=59.9).wake_at == 60.0
    assert digest_schedule({}, {"x": 0.0}, now=60.0).due == ("x",)


@given(intervals=st.lists(st.floats(min_value=0.5, max_value=500), min_size=1, max_size=4),
       arrivals=st.lists(st.tuples(st.integers(min_value=0, max_value=3),
                                   st.floats(min_value=0, max_value=2000)), max_size=40))
def test_a_tenant_never_gets_two_digests_within_its_interval(
        intervals: list[float], arrivals: list[tuple[int, float]]) -> None:
    """Simulate the loop: alerts arrive, the clock ticks to each wake-up or arrival, due
    tenants are flushed. Digests of one tenant are at least its interval apart, and no alert
    waits longer than its tenant's interval."""
    tenants = {f"t{i}": seconds for i, seconds in enumerate(intervals)}
    events = sorted((at, f"t{i % len(intervals)}") for i, at in arrivals)
    waiting: dict[str, float] = {}
    sent: dict[str, list[float]] = {}
    oldest_wait = 0.0
    now = 0.0
    while events or waiting:
        wake_at = digest_schedule(tenants, waiting, now).wake_at
        candidates = [t for t in (wake_at, events[0][0] if events else None) if t is not None]
        now = max(now, min(candidates))
        while events and events[0][0] <= now:
            waiting.setdefault(events.pop(0)[1], now)
        for tenant in digest_schedule(tenants, waiting, now).due:
            oldest_wait = max(oldest_wait, now - waiting.pop(tenant) - tenants[tenant])
            sent.setdefault(tenant, []).append(now)
    for tenant, times in sent.items():
        assert all(b - a >= tenants[tenant] for a, b in pairwise(times))
    assert oldest_wait <= 1e-6


def test_offsets_are_held_at_the_oldest_alert_still_waiting() -> None:
    consumed = {P0: 50, P1: 7}
    assert committable_offsets(consumed, []) == {P0: 50, P1: 7}
    assert committable_offsets(consumed, [{P0: 30}, {P0: 12, P1: 9}]) == {P0: 12, P1: 7}


def alert(tenant: str, student: str, tutor: str) -> ReviewAlert:
    return ReviewAlert(alert_id=f"al-{tenant}-{student}", tenant=tenant, student_id=student,
                       tutor_id=tutor, rule="inactivity", day=date(2026, 11, 20),
                       evidence={"days_inactive": 9}, status="pending_review",
                       created_at=datetime(2026, 11, 21, 6, tzinfo=UTC))


def deliver(notifier: Notifier, tenants: list[str] | None = None) -> int:
    async def run() -> int:
        async with aiohttp.ClientSession() as session:
            if tenants is None:
                return await notifier.deliver_all(session)
            return await notifier.deliver_due(session, tenants)
    return asyncio.run(run())


def test_the_notifier_flushes_only_the_due_tenant_and_holds_the_others_offsets(
        tmp_path: Path) -> None:
    config = tmp_path / "tenants.yaml"
    config.write_text(yaml.safe_dump({"tenants": {
        "fast": {"consent_mode": "notice", "notify": {"digest_seconds": 1.0}},
        "slow": {"consent_mode": "notice", "notify": {"digest_seconds": 3600.0}},
    }}))
    notifier = Notifier(Settings(tenant_config=config))
    notifier.take(alert("slow", "s1", "t-a"), now=100.0, source=(P0, 3))
    notifier.take(alert("fast", "s2", "t-b"), now=100.5, source=(P0, 4))
    notifier.take(alert("fast", "s3", "t-c"), now=100.8, source=(P1, 0))
    notifier.take(alert("nowhere", "s4", "t-d"), now=100.9, source=(P1, 1))  # unknown tenant

    schedule = notifier.schedule(101.4)
    assert schedule.due == ()
    assert schedule.wake_at == 101.5
    schedule = notifier.schedule(101.5)
    assert schedule.due == ("fast",)
    assert schedule.wake_at == 3700.0

    # no channel is configured, so delivering only empties the queue
    assert deliver(notifier, list(schedule.due)) == 2
    assert set(notifier.pending) == {("slow", "t-a")}
    assert notifier.committable({P0: 5, P1: 2}) == {P0: 3, P1: 2}
    assert notifier.schedule(3699.0).due == ()
    assert notifier.schedule(3700.0).due == ("slow",)

    assert deliver(notifier) == 1
    assert notifier.pending == {}
    assert notifier.committable({P0: 5, P1: 2}) == {P0: 5, P1: 2}
    assert notifier.registry.get_sample_value("engage_notifier_alerts_consumed_total") == 4
