"""A real single-node Kafka broker for a test: started on a free port, stopped afterwards."""

from __future__ import annotations

import importlib.util
import socket
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def runner(relative: str) -> ModuleType:
    """One of the project's standalone runner scripts (the local broker's, the local identity
    provider's), loaded as a module."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _localkafka() -> ModuleType:
    return runner("kafka/localkafka.py")


def free_port(pairs: bool = False) -> int:
    """A free loopback port (and, with `pairs`, the next one free too)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not pairs:
            return port
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


@dataclass
class Broker:
    bootstrap: str
    state_dir: Path

    def stop(self) -> None:
        _localkafka().down(self.state_dir)

    def start(self) -> None:
        _localkafka().up(self.state_dir, self.bootstrap)


def start_broker(state_dir: Path) -> Broker:
    state_dir.mkdir(parents=True, exist_ok=True)
    broker = Broker(f"127.0.0.1:{free_port(pairs=True)}", state_dir)
    broker.start()
    return broker


async def group_lag(bootstrap: str, group: str, topics: tuple[str, ...]) -> int:
    """Messages on `topics` not yet committed by the consumer group (all of them when the
    group has committed nothing)."""
    from tests.support.raw_kafka import group_positions

    return (await group_positions(bootstrap, group, topics)).lag
