"""The real `engage worker` in a subprocess, with its own ClickHouse folder and web port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.access import read_local_token
from tests.support.broker import ROOT, free_port

# Rules judge the last days once every partition has been idle for ENGAGE_PARTITION_IDLE_SECONDS
# (1 s here), at the next housekeeping tick (every second here).
JUDGED_AFTER_IDLE_SECONDS = 2.5


@dataclass
class EngineEnv:
    """Environment for every engine process of one test."""

    bootstrap: str
    workdir: Path
    tenant_config: Path
    web_port: int = field(default_factory=free_port)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def clickhouse_path(self) -> Path:
        return self.workdir / "clickhouse"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ENGAGE_KAFKA_BOOTSTRAP=self.bootstrap,
            ENGAGE_CLICKHOUSE_URL=f"chdb://{self.clickhouse_path}",
            ENGAGE_TENANT_CONFIG=str(self.tenant_config),
            ENGAGE_WEB_PORT=str(self.web_port),
            ENGAGE_DATA_DIR=str(self.workdir / "worker"),
            ENGAGE_WORKER_ID="engage-test-worker",
            ENGAGE_QUIET_CHECK_SECONDS="1",
            ENGAGE_BATCH_WITHIN_SECONDS="0.2",
            ENGAGE_STALL_SECONDS="20",
            ENGAGE_PARTITION_IDLE_SECONDS="1",
        )
        env.update(self.extra)
        return env

    def engage(self, *args: str, check: bool = True, timeout: float = 300
               ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "streams.cli", *args],
            cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"engage {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
            )
        return result


def send(env: EngineEnv, worker: WorkerProcess, events: list[dict[str, Any]]) -> None:
    """Produce events with `engage produce` and wait until the worker has taken them in."""
    from tests.support.events import jsonl

    before = worker.seen()
    path = env.workdir / f"batch-{time.monotonic_ns()}.jsonl"
    path.write_text(jsonl(events))
    env.engage("produce", "--events", str(path))
    worker.wait_seen(before + len(events), timeout=60)
    time.sleep(JUDGED_AFTER_IDLE_SECONDS)


class WorkerProcess:
    # The module run with `python -m`; a variant of the worker names its own launcher.
    entry_module = "streams.cli"

    def __init__(self, env: EngineEnv) -> None:
        self.env = env
        self.log_path = env.workdir / f"worker-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 90) -> WorkerProcess:
        self.env.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.entry_module, "worker", "--loglevel",
             os.environ.get("ENGAGE_TEST_WORKER_LOGLEVEL", "info")],
            cwd=ROOT, env=self.env.env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready in {ready_timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.env.web_port}{path}"

    def get(self, path: str, authorization: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": authorization} if authorization else {}
        request = urllib.request.Request(self.url(path), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def local_credentials(self) -> str:
        """What the command line on this machine sends (see `streams.access`)."""
        token = read_local_token(self.env.workdir / "worker")
        assert token is not None, "the worker wrote no local token"
        return f"Local {token}"

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None
             ) -> tuple[int, Any]:
        request = urllib.request.Request(self.url(path), data=body, method="POST",
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def query(self, name: str, **params: str) -> Any:
        from urllib.parse import urlencode

        status, body = self.get(f"/v1/query/{name}?{urlencode(params)}",
                                self.local_credentials())
        assert status == 200, body
        return json.loads(body)

    def metric(self, name: str) -> float:
        """The sum of a metric over all its label sets (0 when it has none yet)."""
        status, body = self.get("/metrics")
        assert status == 200, body
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
                   if line.startswith((name + "{", name + " ")))

    def seen(self) -> float:
        """Records taken in: accepted plus dead-lettered."""
        return (self.metric("engage_events_consumed_total")
                + self.metric("engage_events_dead_lettered_total"))

    def wait_metric(self, name: str, at_least: float, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while (value := self.metric(name)) < at_least:
            assert time.monotonic() < deadline, f"{name} stayed at {value}:\n{self.log()}"
            time.sleep(0.3)

    def wait_seen(self, at_least: float, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while (value := self.seen()) < at_least:
            assert time.monotonic() < deadline, f"only {value} records seen:\n{self.log()}"
            time.sleep(0.3)

    def stop(self, timeout: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
