"""The streamed result through the real broker equals `engage backfill` on the same events,
also when the worker is killed and restarted mid-stream."""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from schemas.topics import INPUT_TOPICS
from synthetic import iter_events, plan_institution, write_jsonl
from tests.support.broker import Broker, group_lag
from tests.support.clickhouse import open_clickhouse, rows
from tests.support.worker import JUDGED_AFTER_IDLE_SECONDS, EngineEnv, WorkerProcess

pytestmark = pytest.mark.integration

MEASURES = ("SELECT tenant, student_id, day, round(ele_minutes, 9), "
            "toString(arraySort(mapKeys(minutes_by_module))), no_module_minutes, app_choices, "
            "event_checkins FROM daily_measures FINAL ORDER BY tenant, student_id, day")
SCORES = ("SELECT tenant, student_id, day, college, round(daily_score, 9), round(score_7d, 9), "
          "band FROM daily_scores FINAL ORDER BY tenant, student_id, day")
ALERTS = ("SELECT alert_id, tenant, student_id, rule, day, evidence, status FROM review_queue "
          "FINAL ORDER BY alert_id")


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with open_clickhouse(path) as client:
        return {"measures": rows(client, MEASURES), "scores": rows(client, SCORES),
                "alerts": rows(client, ALERTS)}


SETUP_TYPES = ("roster.student", "consent.changed")


@pytest.fixture
def institution(tmp_path: Path) -> tuple[Path, Path, int]:
    """The synthetic institution split as it happens in life: rosters and consent first."""
    # Three weeks, so that rules have history enough to raise alerts.
    plan = plan_institution(students=40, days=21, seed=11, tenant="demo-university")
    events = list(iter_events(plan))
    setup = tmp_path / "setup.jsonl"
    activity = tmp_path / "activity.jsonl"
    write_jsonl((e for e in events if e["type"] in SETUP_TYPES), setup)
    write_jsonl((e for e in events if e["type"] not in SETUP_TYPES), activity)
    everything = tmp_path / "institution.jsonl"
    write_jsonl(iter(events), everything)
    return setup, activity, len(events)


def produce_in_order(env: EngineEnv, worker: WorkerProcess, setup: Path, activity: Path,
                     total: int) -> None:
    env.engage("produce", "--events", str(setup))
    worker.wait_seen(sum(1 for _ in setup.open()))
    env.engage("produce", "--events", str(activity))


@pytest.fixture
def demo_env(engine_env: EngineEnv) -> EngineEnv:
    engine_env.tenant_config = Path(__file__).resolve().parents[2] / "config" / \
        "tenants.example.yaml"
    return engine_env


def assert_same(streamed: dict[str, list[tuple[Any, ...]]],
                expected: dict[str, list[tuple[Any, ...]]],
                tables: tuple[str, ...] = ("measures", "scores", "alerts")) -> None:
    for table in tables:
        missing = sorted(set(expected[table]) - set(streamed[table]), key=str)[:5]
        extra = sorted(set(streamed[table]) - set(expected[table]), key=str)[:5]
        assert (missing, extra) == ([], []), f"{table}: missing {missing}; unexpected {extra}"
        assert streamed[table] == expected[table]


def backfilled(env: EngineEnv, events: Path, tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    backfill_env = EngineEnv(bootstrap=env.bootstrap, workdir=tmp_path / "backfill",
                             tenant_config=env.tenant_config)
    backfill_env.engage("backfill", "--events", str(events), "--quiet")
    first = snapshot(backfill_env.clickhouse_path)
    backfill_env.engage("backfill", "--events", str(events), "--quiet")
    assert snapshot(backfill_env.clickhouse_path) == first, "a second backfill changed rows"
    return first


def test_stream_equals_backfill(demo_env: EngineEnv, institution: tuple[Path, Path, int],
                                tmp_path: Path) -> None:
    setup, activity, count = institution
    events = tmp_path / "institution.jsonl"
    worker = WorkerProcess(demo_env).start()
    try:
        produce_in_order(demo_env, worker, setup, activity, count)
        worker.wait_seen(count)
        time.sleep(JUDGED_AFTER_IDLE_SECONDS)
    finally:
        worker.stop()
    streamed = snapshot(demo_env.clickhouse_path)
    assert streamed["measures"], "the stream wrote no measures"
    assert streamed["alerts"], "three weeks of a synthetic institution raise some alerts"
    assert_same(streamed, backfilled(demo_env, events, tmp_path))


def test_kill_and_restart_mid_stream_changes_nothing(
    demo_env: EngineEnv, institution: tuple[Path, Path, int], tmp_path: Path
) -> None:
    """SIGKILL the worker at random moments (twice here, five times under `make soak`)."""
    setup, activity, _ = institution
    events = tmp_path / "institution.jsonl"
    kills = 5 if os.environ.get("ENGAGE_SOAK") else 2
    rng = random.Random(kills)
    worker = WorkerProcess(demo_env).start()
    produce_in_order(demo_env, worker, setup, activity, 0)
    for _ in range(kills):
        time.sleep(rng.uniform(0.5, 2.5))
        worker.kill()
        worker = WorkerProcess(demo_env).start()
    try:
        worker = wait_consumed_after_restart(worker, demo_env)
    finally:
        worker.stop()
    assert_same(snapshot(demo_env.clickhouse_path), backfilled(demo_env, events, tmp_path))


def wait_consumed_after_restart(worker: WorkerProcess, env: EngineEnv, timeout: float = 240
                                ) -> WorkerProcess:
    """After a restart the worker re-reads from its last commit: wait until the group has
    committed every input message, i.e. processed it. A worker whose `/healthz` fails is
    restarted, as the liveness probe of its deployment would; returns the worker running."""
    deadline = time.monotonic() + timeout
    lag = -1
    while time.monotonic() < deadline:
        lag = asyncio.run(group_lag(env.bootstrap, "engage-test-worker", INPUT_TOPICS))
        if lag == 0:
            time.sleep(JUDGED_AFTER_IDLE_SECONDS)
            return worker
        if liveness_fails(worker):
            print(f"worker stalled with lag {lag}; restarting it:\n{worker.log()}")
            worker.kill()
            worker = WorkerProcess(env).start()
        time.sleep(1)
    raise AssertionError(f"worker did not catch up (lag {lag}):\n{worker.log()}")


def liveness_fails(worker: WorkerProcess) -> bool:
    try:
        return worker.get("/healthz")[0] != 200
    except OSError:
        return False


def test_a_broker_restart_mid_stream_loses_nothing(
    demo_env: EngineEnv, institution: tuple[Path, Path, int], tmp_path: Path,
    broker: Broker | None,
) -> None:
    if broker is None:
        pytest.skip("needs the test's own broker to restart it")
    setup, activity, _ = institution
    events = tmp_path / "institution.jsonl"
    worker = WorkerProcess(demo_env).start()
    try:
        produce_in_order(demo_env, worker, setup, activity, 0)
        broker.stop()
        time.sleep(5)
        broker.start()
        recovered = wait_consumed_after_restart(worker, demo_env)
        assert recovered is worker, "the worker should recover by itself"
        assert worker.proc is not None
        assert worker.proc.poll() is None, "the worker should recover by itself"
    finally:
        worker.stop()
    assert_same(snapshot(demo_env.clickhouse_path), backfilled(demo_env, events, tmp_path))
