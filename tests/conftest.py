"""Fixtures shared by the whole suite: a real Kafka broker and engine environments."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.broker import Broker, start_broker
from tests.support.worker import EngineEnv, WorkerProcess

TEST_TENANTS: dict[str, Any] = {
    "tenants": {
        "uni-test": {
            "timezone": "Europe/London",
            "consent_mode": "notice",
            # A test tenant on one machine: its gateway takes writes from anyone.
            "gateway": {"open": True},
            "coefficient_sets": [
                {"valid_from": "2025-08-01",
                 "colleges": {"CLES": {"ele_minutes": 0.446, "app_choices": 0.068,
                                       "event_checkins": 1.11},
                              "CEMPS": {"ele_minutes": 0.5, "app_choices": 0.05,
                                        "event_checkins": 1.0}}},
            ],
        },
        "optin-test": {
            "timezone": "Europe/London",
            "consent_mode": "opt_in",
            "coefficient_sets": [
                {"valid_from": "2025-08-01",
                 "colleges": {"CLES": {"ele_minutes": 0.446, "app_choices": 0.068,
                                       "event_checkins": 1.11}}},
            ],
        },
    }
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker | None]:
    """A fresh broker per test, so topics never carry another test's events; an external
    broker can be given with ENGAGE_TEST_KAFKA_BOOTSTRAP (it must start empty)."""
    if os.environ.get("ENGAGE_TEST_KAFKA_BOOTSTRAP"):
        yield None
        return
    started = start_broker(tmp_path / "kafka")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def kafka(broker: Broker | None) -> str:
    return broker.bootstrap if broker else os.environ["ENGAGE_TEST_KAFKA_BOOTSTRAP"]


@pytest.fixture
def tenant_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(TEST_TENANTS))
    return path


@pytest.fixture
def engine_env(kafka: str, tmp_path: Path, tenant_file: Path) -> EngineEnv:
    return EngineEnv(bootstrap=kafka, workdir=tmp_path / "engine", tenant_config=tenant_file)


@pytest.fixture
def worker(engine_env: EngineEnv) -> Iterator[WorkerProcess]:
    process = WorkerProcess(engine_env)
    try:
        yield process
    finally:
        process.stop()
