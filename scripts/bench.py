"""`make bench`: throughput, latency, memory and alert quality on this machine, one JSON line.

Starts its own Kafka broker and worker on free loopback ports, in a temporary folder, and stops
them. `BENCH_STUDENTS` / `BENCH_DAYS` scale the synthetic institution, `BENCH_STATE_STUDENTS`
the memory phase, `BENCH_PHASE_EVENTS` the two equal phases that compare throughput with and
without a poison message every 1,000 offsets.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scoring.days import last_completed_day  # noqa: E402
from scoring.timebase import LocalCalendar, to_ms  # noqa: E402
from streams.access import read_local_token  # noqa: E402
from streams.settings import Settings  # noqa: E402
from synthetic import ground_truth, iter_events, plan_institution, write_jsonl  # noqa: E402

STUDENTS = int(os.environ.get("BENCH_STUDENTS", "300"))
DAYS = int(os.environ.get("BENCH_DAYS", "28"))
LATENCY_EPS = int(os.environ.get("BENCH_LATENCY_EPS", "2000"))
LATENCY_SECONDS = int(os.environ.get("BENCH_LATENCY_SECONDS", "30"))
# Live clicks before the measured ones, unmeasured: the first moves event time from the
# synthetic term to today, and the rules catch up on the weeks between, once.
WARM_UP_SECONDS = 5
STATE_STUDENTS = int(os.environ.get("BENCH_STATE_STUDENTS", "100000"))
STATE_CLICK_DAYS = 3
PHASE_EVENTS = int(os.environ.get("BENCH_PHASE_EVENTS", "40000"))
POISON_EVERY = 1000
# No phase may wait longer than this for the worker; a stuck run fails instead of hanging.
WAIT_SECONDS = float(os.environ.get("BENCH_WAIT_SECONDS", "900"))
# The framework ceiling and the end-to-end replay are each measured this many times, in turn,
# and their medians compared: on a shared machine one run can be a tenth off either way.
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
# How often the bench asks the worker how far it has got. Each look renders /metrics in the
# worker's Faust process, the one that bounds throughput: ten looks a second cost it several
# percent, where Prometheus looks every 15 seconds or so.
POLL_SECONDS = 0.5
TENANT = "demo-university"
ENGAGEMENT_RULES = ("engagement_drop", "inactivity")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def metric(port: int, *names: str) -> float:
    """The sum of the named metrics over all their label sets, from one look at /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(v) for name in names for v in re.findall(
        rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.MULTILINE))


def histogram_buckets(port: int, name: str) -> list[tuple[float, float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sorted(
        (float("inf") if le == "+Inf" else float(le), float(count))
        for le, count in re.findall(rf'^{name}_bucket{{le="([^"]+)"}} ([0-9.e+-]+)$', text,
                                    re.MULTILINE))


def quantiles_between(before: list[tuple[float, float]], after: list[tuple[float, float]],
                      quantiles: list[float]) -> list[float]:
    """Quantiles of the observations made between two snapshots of a cumulative histogram,
    interpolated within buckets as Prometheus's histogram_quantile does."""
    earlier = dict(before)
    buckets = [(le, count - earlier.get(le, 0.0)) for le, count in after]
    total = buckets[-1][1]
    results = []
    for q in quantiles:
        rank, previous_le, previous_count = q * total, 0.0, 0.0
        for le, count in buckets:
            if count >= rank:
                if le == float("inf"):
                    results.append(previous_le)
                else:
                    share = (rank - previous_count) / max(count - previous_count, 1e-9)
                    results.append(previous_le + (le - previous_le) * share)
                break
            previous_le, previous_count = le, count
    return results


async def raw_consume_eps(bootstrap: str, topic: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    seen, first = 0, 0.0
    try:
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=100_000)
            for records in batch.values():
                if not first:
                    first = time.perf_counter()
                seen += len(records)
    finally:
        await consumer.stop()
    return seen / (time.perf_counter() - first)


async def paced_clicks(bootstrap: str, eps: int, seconds: int) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    sent = 0
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            due = int((time.perf_counter() - started) * eps)
            now = datetime.now(tz=UTC)
            while sent < due:
                topic, key, value = click(f"live-{sent}", f"s{sent % STUDENTS + 1:05d}", now)
                await producer.send(topic, value, key=key)
                sent += 1
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


Message = tuple[str, bytes | None, bytes | None]


def metric_or_zero(port: int, *names: str) -> float:
    """`metric`, or 0 while the worker is not answering yet."""
    try:
        return metric(port, *names)
    except OSError:
        return 0.0


def seen_by_worker(port: int) -> float:
    return metric_or_zero(port, "engage_events_consumed_total",
                          "engage_events_dead_lettered_total")


def worker_has_seen(port: int, count: float) -> bool:
    return seen_by_worker(port) >= count


def judged_through(port: int) -> float:
    return metric_or_zero(port, "engage_rules_judged_through_seconds")


def rules_reach(newest: datetime) -> float:
    """Where `engage_rules_judged_through_seconds` ends up once the stream is quiet and its
    newest event is `newest`."""
    settings = Settings()
    calendar = LocalCalendar(settings.tenants[TENANT].timezone)
    day = last_completed_day(calendar, to_ms(newest), int(settings.rules_settle_seconds * 1000))
    return calendar.end_ms(day) / 1000


def wait_for(done: Callable[[], bool], what: str, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if worker.poll() is not None:
            raise SystemExit(f"worker stopped while waiting for {what}; see worker.log")
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {WAIT_SECONDS:.0f}s waiting for {what}")
        time.sleep(POLL_SECONDS)


def click(event_id: str, student: str, at: datetime) -> Message:
    value = json.dumps({"event_id": event_id, "type": "vle.click", "tenant": TENANT,
                        "student_id": student, "occurred_at": at.isoformat(),
                        "module": "BIO1001"}).encode()
    return "engage.vle.clicks", f"{TENANT}:{student}".encode(), value


POISON_KINDS: tuple[bytes | None, ...] = (
    b"{not json",
    json.dumps({"type": "vle.click", "tenant": TENANT}).encode(),  # fails the schema
    json.dumps({"event_id": "x", "type": "vle.click", "tenant": "nowhere", "student_id": "s1",
                "occurred_at": "2026-10-05T08:00:00Z", "module": "BIO1001"}).encode(),
    b"\xff\xfe not utf-8",
    None,  # a tombstone
)


def click_phase(label: str, poisoned: bool) -> list[Message]:
    """Live clicks for the replayed students; with `poisoned`, every 1,000th is poison."""
    now = datetime.now(tz=UTC)
    messages: list[Message] = []
    for n in range(PHASE_EVENTS):
        student = f"s{n % STUDENTS + 1:05d}"
        if poisoned and n % POISON_EVERY == POISON_EVERY - 1:
            poison = POISON_KINDS[(n // POISON_EVERY) % len(POISON_KINDS)]
            messages.append(("engage.vle.clicks", f"{TENANT}:{student}".encode(), poison))
        else:
            messages.append(click(f"{label}-{n}", student, now))
    return messages


def state_students(recent: datetime) -> Iterator[Message]:
    """`STATE_STUDENTS` more students, with a roster entry and consent: what a worker holds
    for a large university, once `state_clicks` has given them some activity."""
    joined = (recent - timedelta(days=7)).isoformat()
    for n in range(STATE_STUDENTS):
        student = f"m{n:06d}"
        key = f"{TENANT}:{student}".encode()
        yield "engage.roster", key, json.dumps({
            "event_id": f"state-roster-{n}", "type": "roster.student", "tenant": TENANT,
            "student_id": student, "occurred_at": joined, "college": ("CLES", "CEMPS")[n % 2],
            "tutor_id": f"t{n % 400:03d}"}).encode()
        yield "engage.consent", key, json.dumps({
            "event_id": f"state-consent-{n}", "type": "consent.changed", "tenant": TENANT,
            "student_id": student, "occurred_at": joined, "granted": True}).encode()


def state_clicks(recent: datetime) -> Iterator[Message]:
    """Clicks on a few recent days for each of those students, in time order as systems send
    them (an event older than the student's newest costs a ClickHouse read to refold)."""
    for back in reversed(range(STATE_CLICK_DAYS)):
        for n in range(STATE_STUDENTS):
            yield click(f"state-click-{n}-{back}", f"m{n:06d}", recent - timedelta(days=back))


async def produce(bootstrap: str, messages: Iterable[Message]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=256 * 1024)
    await producer.start()
    sent = 0
    try:
        for topic, key, value in messages:
            await producer.send(topic, value, key=key)
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def timed_phase(bootstrap: str, port: int, messages: list[Message]) -> float:
    """Events per second the worker takes in while `messages` arrive, first to last."""
    before = await asyncio.to_thread(seen_by_worker, port)
    producing = asyncio.create_task(produce(bootstrap, messages))
    first = None
    seen_then = before
    deadline = time.monotonic() + WAIT_SECONDS
    while (seen := await asyncio.to_thread(seen_by_worker, port)) < before + len(messages):
        if first is None and seen > before:
            first, seen_then = time.perf_counter(), seen
        if time.monotonic() > deadline:
            raise SystemExit(f"worker took {seen - before} of {len(messages)} phase events")
        await asyncio.sleep(POLL_SECONDS)
    await producing
    if first is None:
        raise SystemExit(f"the worker took all {len(messages)} phase events between two looks; "
                         "raise BENCH_PHASE_EVENTS to time them")
    # As in the replay: what was counted after the first look, over the time since.
    return (before + len(messages) - seen_then) / (time.perf_counter() - first)


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def calibration_loop_s() -> float:
    """Seconds a fixed piece of pure Python takes here (median of five): how fast this machine
    runs the interpreter today, for comparing runs made on different days."""
    def loop() -> float:
        started = time.perf_counter()
        total = 0
        for n in range(5_000_000):
            total += n
        return time.perf_counter() - started
    return round(statistics.median(loop() for _ in range(5)), 3)


def alert_quality(port: int, data_dir: Path) -> dict[str, float | None]:
    """Engagement alerts against the generator's ground truth, read through the worker
    before live traffic dated today moves event time weeks past the synthetic term."""
    plan = plan_institution(STUDENTS, DAYS, seed=7)
    truth = {t.student_id: t.disengage_day for t in ground_truth(plan)}
    url = f"http://127.0.0.1:{port}/v1/query/review-list?tenant={plan.tenant}"
    # As the command line on the worker's machine asks (see streams.access).
    request = urllib.request.Request(
        url, headers={"Authorization": f"Local {read_local_token(data_dir)}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        alerts = json.loads(response.read())
    alerted: dict[str, date] = {}
    for alert in alerts:
        if alert["rule"] in ENGAGEMENT_RULES:
            day = date.fromisoformat(alert["day"])
            alerted[alert["student_id"]] = min(day, alerted.get(alert["student_id"], day))
    hits = set(alerted) & set(truth)
    delays = [(alerted[s] - truth[s]).days for s in hits]
    return {
        "alert_precision": round(len(hits) / len(alerted), 3) if alerted else None,
        "alert_recall": round(len(hits) / len(truth), 3) if truth else None,
        "alert_median_delay_days": statistics.median(delays) if delays else None,
        "disengaged_students": len(truth),
    }


class Bench:
    def __init__(self, work: Path, bootstrap: str) -> None:
        self.work = work
        self.bootstrap = bootstrap

    def worker_env(self, run: int, web_port: int) -> dict[str, str]:
        """A worker of its own for each replay: its own consumer group, ClickHouse and state."""
        return dict(os.environ, ENGAGE_KAFKA_BOOTSTRAP=self.bootstrap,
                    ENGAGE_WEB_PORT=str(web_port),
                    ENGAGE_CLICKHOUSE_URL=f"chdb://{self.work / f'clickhouse-{run}'}",
                    ENGAGE_DATA_DIR=str(self.work / f"worker-{run}"),
                    ENGAGE_WORKER_ID=f"engage-bench-{run}")

    def noop_eps(self, run: int, clicks: int) -> float:
        noop = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_noop.py"),
                               self.bootstrap, "engage.vle.clicks", str(clicks),
                               str(self.work / f"noop-data-{run}")],
                              capture_output=True, text=True, cwd=ROOT, timeout=900)
        found = re.search(r"NOOP_EPS ([0-9.]+)", noop.stdout)
        if not found:
            raise SystemExit(f"the Faust no-op printed no rate:\n{noop.stderr[-3000:]}")
        return float(found.group(1))

    def replay(self, run: int, total: int) -> tuple[subprocess.Popen[bytes], int, float]:
        """A new worker replays every event produced; returns it, its web port and its rate:
        the events counted (their rows written) after the first look that found any, over the
        time since that look. Counting the events found at that first look too would credit
        the worker with a whole batch (up to ENGAGE_BATCH_MAX_EVENTS) for none of its time."""
        web_port = free_port()
        worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"],
                                  env=self.worker_env(run, web_port), cwd=ROOT,
                                  stdout=(self.work / f"worker-{run}.log").open("wb"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        first: tuple[float, float] | None = None

        def replayed() -> bool:
            nonlocal first
            seen = seen_by_worker(web_port)
            if seen and first is None:
                first = (time.perf_counter(), seen)
            return seen >= total

        wait_for(replayed, "the replay", worker)
        assert first is not None
        started, seen_then = first
        if seen_then >= total:
            raise SystemExit("the worker replayed everything between two looks; raise "
                             "BENCH_STUDENTS or BENCH_DAYS to time it")
        return worker, web_port, (total - seen_then) / (time.perf_counter() - started)

    def stop(self, worker: subprocess.Popen[bytes]) -> None:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=120)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="engage-bench-"))
    bootstrap = f"127.0.0.1:{free_port()}"
    bench = Bench(work, bootstrap)
    kafka = [sys.executable, str(ROOT / "kafka" / "localkafka.py"), "--dir", str(work / "kafka"),
             "--bootstrap", bootstrap]
    subprocess.run([*kafka[:2], "up", *kafka[2:]], check=True, stdout=subprocess.DEVNULL)
    worker = None
    result: dict[str, object] = {"students": STUDENTS, "days": DAYS,
                                 "machine_cores": os.cpu_count(),
                                 "calibration_loop_s": calibration_loop_s()}
    try:
        plan = plan_institution(STUDENTS, DAYS, seed=7)
        events_file = work / "events.jsonl"
        total = write_jsonl(iter_events(plan), events_file)
        clicks = sum(1 for line in events_file.open() if '"vle.click"' in line)
        newest = max(datetime.fromisoformat(json.loads(line)["occurred_at"])
                     for line in events_file.open())
        result["events"] = total
        log(f"generated {total} events ({clicks} clicks); producing")
        subprocess.run([sys.executable, "-m", "streams.cli", "produce", "--events",
                        str(events_file)], env=bench.worker_env(0, free_port()), cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
        raw_eps = asyncio.run(raw_consume_eps(bootstrap, "engage.vle.clicks", clicks))
        result["raw_consume_eps"] = round(raw_eps)
        log(f"raw consume: {result['raw_consume_eps']} events/s")

        noops: list[float] = []
        replays: list[float] = []
        for run in range(1, REPEATS + 1):
            noops.append(bench.noop_eps(run, clicks))
            worker, web_port, eps = bench.replay(run, total)
            replays.append(eps)
            log(f"run {run}: faust no-op {noops[-1]:.0f}, end to end {eps:.0f} events/s")
            if run < REPEATS:
                bench.stop(worker)
                shutil.rmtree(work / f"clickhouse-{run}", ignore_errors=True)
        assert worker is not None
        noop_eps = statistics.median(noops)
        e2e = statistics.median(replays)
        result.update(
            repeats=REPEATS, faust_noop_eps=round(noop_eps), e2e_eps=round(e2e),
            e2e_ratio=round(e2e / noop_eps, 3), wire_ratio=round(e2e / raw_eps, 4),
            faust_noop_runs_eps=[round(n) for n in noops],
            e2e_runs_eps=[round(n) for n in replays])
        log(f"medians: faust no-op {result['faust_noop_eps']}, end to end {result['e2e_eps']} "
            f"events/s, ratio {result['e2e_ratio']}")
        # Rules judge a day once no partition still delivering could hold more of it
        # (ENGAGE_PARTITION_IDLE_SECONDS): alerts are read once they have judged the term.
        replay_done = time.perf_counter()
        wait_for(lambda: judged_through(web_port) >= rules_reach(newest), "the rules", worker)
        result["rules_caught_up_s"] = round(time.perf_counter() - replay_done, 1)
        result.update(alert_quality(web_port, work / f"worker-{REPEATS}"))

        written = metric(web_port, "engage_event_to_sink_seconds_count")
        warm_up = asyncio.run(paced_clicks(bootstrap, LATENCY_EPS, WARM_UP_SECONDS))
        wait_for(lambda: metric(web_port, "engage_event_to_sink_seconds_count")
                 >= written + warm_up, "the warm-up clicks", worker)
        warmed_at = datetime.now(tz=UTC) - timedelta(seconds=1)
        wait_for(lambda: judged_through(web_port) >= rules_reach(warmed_at), "the rules",
                 worker)

        before = metric(web_port, "engage_event_to_sink_seconds_count")
        snapshot = histogram_buckets(web_port, "engage_event_to_sink_seconds")
        sent = asyncio.run(paced_clicks(bootstrap, LATENCY_EPS, LATENCY_SECONDS))
        wait_for(lambda: metric(web_port, "engage_event_to_sink_seconds_count")
                 >= before + sent, "the live clicks", worker)
        p50, p95, p99 = quantiles_between(
            snapshot, histogram_buckets(web_port, "engage_event_to_sink_seconds"),
            [0.5, 0.95, 0.99])
        result.update(latency_offered_eps=LATENCY_EPS, latency_p50_s=round(p50, 3),
                      latency_p95_s=round(p95, 3), latency_p99_s=round(p99, 3))
        log(f"latency p95 {result['latency_p95_s']} s; now {PHASE_EVENTS} clicks three times, the "
            f"second with a poison message every {POISON_EVERY}")
        letters_before = metric(web_port, "engage_events_dead_lettered_total")
        # Clean before and after the poisoned phase, so that drift is not read as the poison.
        before_poison = asyncio.run(timed_phase(bootstrap, web_port, click_phase("clean", False)))
        poisoned = asyncio.run(timed_phase(bootstrap, web_port, click_phase("poison", True)))
        after_poison = asyncio.run(timed_phase(bootstrap, web_port, click_phase("again", False)))
        clean = (before_poison + after_poison) / 2
        result.update(
            phase_events=PHASE_EVENTS, clean_phase_eps=round(clean),
            poison_phase_eps=round(poisoned), poison_throughput_ratio=round(poisoned / clean, 3),
            poison_dead_lettered=int(metric(web_port, "engage_events_dead_lettered_total")
                                     - letters_before))
        log(f"clean {clean:.0f}/s, poisoned {poisoned:.0f}/s; loading {STATE_STUDENTS} "
            "students into state")
        recent = datetime.now(tz=UTC) - timedelta(hours=1)
        expected_seen = total + 3 * PHASE_EVENTS
        for part in (state_students, state_clicks):
            expected_seen += asyncio.run(produce(bootstrap, part(recent)))
            wait_for(partial(worker_has_seen, web_port, expected_seen), part.__name__, worker)
        wanted = STUDENTS + STATE_STUDENTS
        wait_for(lambda: metric(web_port, "engage_students_in_state") >= wanted,
                 "the students' state", worker)
        result["students_in_state"] = int(metric(web_port, "engage_students_in_state"))
        # The worker is two processes (the Faust one and its engine process): each one's own
        # peak, added up (their peaks need not coincide, so this may overstate, never under).
        peaks = [peak_rss_mb(pid) for pid in (worker.pid, *children_of(worker.pid))]
        result.update(peak_rss_mb=round(sum(peaks), 1),
                      peak_rss_by_process_mb=[round(mb, 1) for mb in peaks])
    finally:
        if worker is not None:
            bench.stop(worker)
        subprocess.run([*kafka[:2], "down", *kafka[2:]], check=False, stdout=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
