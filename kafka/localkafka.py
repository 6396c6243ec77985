"""Run a single-node Apache Kafka broker (KRaft, combined broker and controller) on loopback.

The broker jars come from Maven Central through `kafka/pom.xml` and are cached under the state
folder. Usage:

    python kafka/localkafka.py up   [--dir .local/kafka] [--bootstrap 127.0.0.1:9092]
    python kafka/localkafka.py down [--dir .local/kafka]

`up` formats storage once, starts the broker in the background, waits until a client can fetch
metadata and returns; running it again while the broker is up does nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE.parent / ".local" / "kafka"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
READY_TIMEOUT_S = 90.0

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.quorum.bootstrap.servers={host}:{controller_port}
log.dirs={data_dir}
num.partitions=6
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
log.segment.bytes=67108864
"""

LOG4J2 = """\
Configuration:
  status: warn
  Appenders:
    File:
      name: file
      fileName: "{log_file}"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
"""


def _parse_bootstrap(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port)


def _lib_dir(state: Path) -> Path:
    # One jar cache per checkout, shared by every broker state folder (tests use temporary ones).
    return Path(os.environ.get("KAFKA_LIB_DIR", HERE.parent / ".local" / "kafka-lib"))


def fetch_jars(state: Path) -> Path:
    lib = _lib_dir(state)
    marker = lib / ".complete"
    if marker.exists():
        return lib
    lib.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(HERE / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={lib}",
        ],
        check=True,
    )
    marker.touch()
    return lib


def _pid(state: Path) -> int | None:
    pid_file = state / "broker.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _reap(pid: int) -> None:
    """When this process started the broker (tests do), an exited broker stays a zombie that
    still answers signals until it is reaped; one started elsewhere is not ours to reap."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _metadata_ok(host: str, port: int) -> bool:
    """Send a Kafka MetadataRequest v0 (no topics) and check for a well-formed answer."""
    client_id = b"localkafka"
    body = struct.pack(">hhih", 3, 0, 1, len(client_id)) + client_id + struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
            answer = sock.recv(size, socket.MSG_WAITALL)
    except OSError:
        return False
    if len(answer) < 8:
        return False
    correlation_id, broker_count = struct.unpack(">ii", answer[:8])
    return correlation_id == 1 and broker_count >= 1


def up(state: Path, bootstrap: str) -> None:
    host, port = _parse_bootstrap(bootstrap)
    if _pid(state) is not None and _metadata_ok(host, port):
        print(f"kafka: already running on {host}:{port}")
        return
    if _port_open(host, port):
        sys.exit(f"kafka: port {port} on {host} is taken by another process")
    lib = fetch_jars(state)
    data_dir = state / "data"
    config = state / "server.properties"
    config.write_text(
        SERVER_PROPERTIES.format(
            host=host, port=port, controller_port=port + 1, data_dir=data_dir
        )
    )
    log_file = state / "broker.log"
    (state / "log4j2.yaml").write_text(LOG4J2.format(log_file=log_file))
    classpath = f"{lib}/*"
    if not (data_dir / "meta.properties").exists():
        cluster_id = str(uuid.uuid4().hex[:22])
        subprocess.run(
            [
                "java", "-cp", classpath, "kafka.tools.StorageTool", "format",
                "--standalone", "-t", cluster_id, "-c", str(config),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    env = dict(os.environ, KAFKA_LOG4J_OPTS="")
    with open(state / "broker.out", "ab") as out:
        proc = subprocess.Popen(
            [
                "java", "-Xmx512m", "-Xms256m", "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={state / 'log4j2.yaml'}",
                f"-Dkafka.logs.dir={state}",
                "-cp", classpath, "kafka.Kafka", str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    (state / "broker.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"kafka: broker exited with {proc.returncode}; see {state / 'broker.out'}")
        if _port_open(host, port) and _metadata_ok(host, port):
            print(f"kafka: ready on {host}:{port} (data in {data_dir})")
            return
        time.sleep(0.3)
    down(state)
    sys.exit(f"kafka: broker not ready after {READY_TIMEOUT_S:.0f}s; see {log_file}")


def down(state: Path) -> None:
    pid = _pid(state)
    if pid is None:
        print("kafka: not running")
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _reap(pid)
        if _pid(state) is None:
            break
        time.sleep(0.2)
    if _pid(state) is not None:
        os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
    (state / "broker.pid").unlink(missing_ok=True)
    print("kafka: stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "fetch"])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("KAFKA_DIR", DEFAULT_DIR)))
    parser.add_argument(
        "--bootstrap", default=os.environ.get("ENGAGE_KAFKA_BOOTSTRAP", DEFAULT_BOOTSTRAP)
    )
    args = parser.parse_args()
    state: Path = args.dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    if args.action == "up":
        up(state, args.bootstrap)
    elif args.action == "fetch":
        fetch_jars(state)
    else:
        down(state)


if __name__ == "__main__":
    main()
