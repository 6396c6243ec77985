"""`make demo`: local Kafka, a worker, a synthetic institution's events, a printed summary.

Stops whatever it started, also when interrupted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = int(os.environ.get("DEMO_STUDENTS", "300"))
DAYS = int(os.environ.get("DEMO_DAYS", "28"))
SEED = int(os.environ.get("DEMO_SEED", "7"))


def engage(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"engage {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def kafka(action: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "kafka" / "localkafka.py"), action],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def metric_total(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the worker stopped during start-up; see .local/demo-worker.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    sys.exit("the worker did not become ready; see .local/demo-worker.log")


def main() -> None:
    started = time.monotonic()
    port = int(os.environ.get("ENGAGE_WEB_PORT", "6066"))
    (ROOT / ".local").mkdir(exist_ok=True)
    kafka_status = kafka("up")
    print(f"[demo] {kafka_status}")
    kafka_started_here = "already running" not in kafka_status
    worker: subprocess.Popen[bytes] | None = None
    try:
        print(f"[demo] {engage('init-db').strip().splitlines()[0]}")
        log = (ROOT / ".local" / "demo-worker.log").open("wb")
        worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_ready(port, worker)
        print(f"[demo] worker ready on http://127.0.0.1:{port} (/metrics, /v1/events)")
        sent = json.loads(engage("generate", "--students", str(STUDENTS), "--days", str(DAYS),
                                 "--seed", str(SEED), "--kafka", "--quiet"))["sent"]
        print(f"[demo] produced {sent} events of a synthetic institution "
              f"({STUDENTS} students, {DAYS} days)")
        deadline = time.monotonic() + 240
        seen = 0.0
        while time.monotonic() < deadline:
            seen = (metric_total(port, "engage_events_consumed_total")
                    + metric_total(port, "engage_events_dead_lettered_total"))
            if seen >= sent:
                break
            time.sleep(1)
        time.sleep(2)
        summary = json.loads(engage("status"))
        print(f"[demo] events in: {int(seen)} of {sent} in {time.monotonic() - started:.0f}s")
        print("[demo] rows in ClickHouse:")
        for table, count in summary["rows"].items():
            print(f"         {table:<18}{count:>10}")
        alerts = metric_total(port, "engage_alerts_raised_total")
        print(f"[demo] alerts raised for tutor review: {int(alerts)}")
        print("[demo] data: ClickHouse in .local/clickhouse (embedded), Kafka in .local/kafka")
        print("[demo] try: .venv/bin/engage explain --tenant demo-university --student s00001 "
              "--date <a day of the run>  (works with or without a worker running)")
        if seen < sent:
            sys.exit("[demo] not every event was processed in time")
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        if kafka_started_here:
            print(f"[demo] {kafka('down')}")


if __name__ == "__main__":
    main()
