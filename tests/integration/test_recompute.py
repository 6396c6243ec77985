"""`engage recompute` applies a new academic year's coefficients to stored activity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import TEST_TENANTS
from tests.support.clickhouse import open_clickhouse, rows
from tests.support.events import event, jsonl
from tests.support.worker import EngineEnv

pytestmark = pytest.mark.integration


def test_recompute_uses_the_coefficients_configured_now(tmp_path: Path) -> None:
    env = EngineEnv(bootstrap="127.0.0.1:1", workdir=tmp_path / "engine",
                    tenant_config=tmp_path / "tenants.yaml")
    env.tenant_config.write_text(yaml.safe_dump(TEST_TENANTS))
    day = datetime(2026, 10, 6, 10, tzinfo=UTC)
    events = [event("roster.student", "r1", day - timedelta(days=1), college="CLES"),
              *(event("vle.click", "r1", day + timedelta(minutes=2 * k), module="M")
                for k in range(10))]
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(events))
    env.engage("backfill", "--events", str(path), "--quiet")
    changed = json.loads(json.dumps(TEST_TENANTS))
    changed["tenants"]["uni-test"]["coefficient_sets"].append(
        {"valid_from": "2026-10-01",
         "colleges": {"CLES": {"ele_minutes": 1.0, "app_choices": 0.0, "event_checkins": 0.0}}})
    env.tenant_config.write_text(yaml.safe_dump(changed))
    report = json.loads(env.engage("recompute", "--tenant", "uni-test", "--from",
                                   "2026-10-01").stdout)
    assert report["students"] == 1
    with open_clickhouse(env.clickhouse_path) as client:
        scores = rows(client, "SELECT day, daily_score, score_7d FROM daily_scores FINAL "
                              "WHERE student_id = 'r1' AND day = '2026-10-06'")
    assert scores == [(day.date(), pytest.approx(20.0), pytest.approx(20.0 / 7))]
