"""The worker's two processes live and die together, and the students' state follows its
partitions: what a rebalance hands to another worker is restored there from the changelog."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.events import event, jsonl
from tests.support.worker import EngineEnv, WorkerProcess, send

pytestmark = pytest.mark.integration


def engine_of(worker: WorkerProcess) -> int:
    assert worker.proc is not None
    children = subprocess.run(["pgrep", "-P", str(worker.proc.pid)], capture_output=True,
                              text=True, check=True).stdout.split()
    [engine] = map(int, children)
    assert "engine" in Path(f"/proc/{engine}/cmdline").read_bytes().decode(errors="replace")
    return engine


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie has exited; only its parent has yet to collect it.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def wait_until(done: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def buckets(worker: WorkerProcess, histogram: str) -> dict[str, float]:
    """A histogram's cumulative buckets by upper bound, as /metrics shows them now."""
    status, body = worker.get("/metrics")
    assert status == 200
    return {s.labels["le"]: s.value for f in text_string_to_metric_families(body.decode())
            for s in f.samples if s.name == f"{histogram}_bucket"}


def written_within(worker: WorkerProcess, seconds: str) -> float:
    """Events whose rows were written within `seconds` of their arrival in Kafka."""
    return buckets(worker, "engage_event_to_sink_seconds")[seconds]


def clicks(students: list[str], at: datetime) -> list[dict[str, object]]:
    return [event("vle.click", s, at + timedelta(minutes=k), module="BIO1001")
            for s in students for k in range(3)]


def test_the_worker_stops_when_its_engine_process_dies(worker: WorkerProcess) -> None:
    worker.start()
    engine = engine_of(worker)
    os.kill(engine, signal.SIGKILL)
    assert worker.proc is not None
    status = worker.proc.wait(timeout=60)
    # Not a clean exit: an orchestrator restarts it, and it replays what was not committed.
    assert status != 0
    assert "the engine process went away" in worker.log()


def test_the_engine_process_dies_with_the_worker_and_frees_clickhouse(
        engine_env: EngineEnv, worker: WorkerProcess) -> None:
    worker.start()
    start = datetime.now(tz=UTC) - timedelta(hours=2)
    send(engine_env, worker, clicks(["s1"], start))
    engine = engine_of(worker)
    assert worker.proc is not None
    os.kill(worker.proc.pid, signal.SIGKILL)  # the Faust process alone, as an OOM kill would
    worker.proc.wait(timeout=10)
    wait_until(lambda: gone(engine), 10, "the engine process outlived its worker")
    # The embedded ClickHouse folder is free: a new worker opens it and sees the old rows.
    again = WorkerProcess(engine_env).start()
    try:
        held = again.query("export-student", tenant="uni-test", student="s1")
        assert len(held["activity"]) == 3
    finally:
        again.stop()


def test_a_clean_stop_stops_the_engine_process_after_the_worker(
        engine_env: EngineEnv, worker: WorkerProcess) -> None:
    worker.start()
    send(engine_env, worker, clicks(["s1"], datetime.now(tz=UTC) - timedelta(hours=2)))
    engine = engine_of(worker)
    assert worker.proc is not None
    os.kill(worker.proc.pid, signal.SIGTERM)  # the Faust process alone, as Kubernetes does
    assert worker.proc.wait(timeout=60) == 0
    assert gone(engine)


def test_a_second_worker_takes_over_partitions_with_their_students_state(
        kafka: str, tmp_path: Path, tenant_file: Path) -> None:
    """Two workers of one group, each with its own ClickHouse folder (as with a server, the
    rows would land in one place). The second takes over half the partitions; the first forgets
    those students, the second restores them from the changelog and scores on from there."""
    first_env = EngineEnv(bootstrap=kafka, workdir=tmp_path / "first", tenant_config=tenant_file)
    second_env = EngineEnv(bootstrap=kafka, workdir=tmp_path / "second",
                           tenant_config=tenant_file)
    students = [f"s{n}" for n in range(24)]
    today = datetime.now(tz=UTC) - timedelta(hours=2)
    yesterday = today - timedelta(days=1)
    roster = [event("roster.student", s, yesterday - timedelta(days=1), college="CLES")
              for s in students]
    first = WorkerProcess(first_env).start()
    second = WorkerProcess(second_env)
    try:
        send(first_env, first, [*roster, *clicks(students, yesterday)])
        assert first.metric("engage_students_in_state") == len(students)
        second.start()
        wait_until(lambda: 0 < second.metric("engage_students_in_state") < len(students)
                   and first.metric("engage_students_in_state")
                   + second.metric("engage_students_in_state") == len(students),
                   180, "the partitions and their students were not shared out")
        later = clicks(students, today)
        path = first_env.workdir / "today.jsonl"
        path.write_text(jsonl(later))
        before = first.seen() + second.seen()
        first_env.engage("produce", "--events", str(path))
        wait_until(lambda: first.seen() + second.seen() >= before + len(later), 120,
                   "the two workers did not take today's clicks")
        taken_over = [s for s in students
                      if second.query("export-student", tenant="uni-test", student=s)["activity"]]
        assert taken_over
        for student in taken_over:
            scores = {row["day"]: row for row in second.query(
                "export-student", tenant="uni-test", student=student)["scores"]}
            day = scores[today.astimezone(ZoneInfo("Europe/London")).date().isoformat()]
            # The 7-day average counts yesterday's score, which only the restored state held.
            assert day["score_7d"] == pytest.approx(2 * day["daily_score"] / 7)
    finally:
        second.stop()
        first.stop()


def test_a_backlog_goes_to_the_engine_in_full_batches_and_live_events_at_once(
        engine_env: EngineEnv) -> None:
    """Catching up, a quarter-second's take would spread the engine's per-student work over a
    few hundred events; batches gather up to the largest size instead. Once caught up, an event
    is handed over as soon as it is taken, not after the catch-up wait."""
    engine_env.extra.update(ENGAGE_BATCH_MAX_EVENTS="4000", ENGAGE_BATCH_WITHIN_SECONDS="0.05",
                            ENGAGE_BATCH_CATCH_UP_SECONDS="5")
    start = datetime.now(tz=UTC) - timedelta(days=2)
    backlog = [event("vle.click", f"s{n % 40}", start + timedelta(seconds=n), module="BIO1001")
               for n in range(24_000)]
    path = engine_env.workdir / "backlog.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(jsonl(backlog))
    engine_env.engage("produce", "--events", str(path))
    worker = WorkerProcess(engine_env).start()
    try:
        worker.wait_seen(len(backlog))
        sizes = buckets(worker, "engage_batch_events")
        # A take holds a few hundred events here, so none would reach 2,500 unless gathered.
        # Only the last of the backlog, less than a batch behind, goes out take by take.
        full = sizes["+Inf"] - sizes["2500.0"]
        assert full >= (len(backlog) - 2 * 4000) // 4400, sizes
        quick_before = written_within(worker, "2.0")
        send(engine_env, worker, [event("vle.click", "s1", datetime.now(tz=UTC),
                                        module="BIO1001")])
        assert written_within(worker, "2.0") == quick_before + 1
    finally:
        worker.stop()
