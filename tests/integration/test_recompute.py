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
from tests.support.worker import EngineEnv, WorkerProcess, send

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
                                   "2026-10-01", "--no-worker-state").stdout)
    assert report["students"] == 1
    with open_clickhouse(env.clickhouse_path) as client:
        scores = rows(client, "SELECT day, daily_score, score_7d FROM daily_scores FINAL "
                              "WHERE student_id = 'r1' AND day = '2026-10-06'")
    assert scores == [(day.date(), pytest.approx(20.0), pytest.approx(20.0 / 7))]


def test_explain_after_recompute_shows_each_days_own_coefficients(tmp_path: Path) -> None:
    env = EngineEnv(bootstrap="127.0.0.1:1", workdir=tmp_path / "engine",
                    tenant_config=tmp_path / "tenants.yaml")
    env.tenant_config.write_text(yaml.safe_dump(TEST_TENANTS))
    day = datetime(2026, 10, 6, 10, tzinfo=UTC)
    before = day - timedelta(days=6)  # 2026-09-30, still in the old academic year
    events = [event("roster.student", "r1", before - timedelta(days=1), college="CLES"),
              *(event("vle.click", "r1", before + timedelta(minutes=2 * k), module="M")
                for k in range(5)),
              *(event("vle.click", "r1", day + timedelta(minutes=2 * k), module="M")
                for k in range(10))]
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(events))
    env.engage("backfill", "--events", str(path), "--quiet")
    changed = json.loads(json.dumps(TEST_TENANTS))
    new_year = {"ele_minutes": 1.0, "app_choices": 0.0, "event_checkins": 0.0}
    changed["tenants"]["uni-test"]["coefficient_sets"].append(
        {"valid_from": "2026-10-01", "colleges": {"CLES": new_year}})
    env.tenant_config.write_text(yaml.safe_dump(changed))
    env.engage("recompute", "--tenant", "uni-test", "--from", "2026-10-01", "--no-worker-state")

    args = ("explain", "--tenant", "uni-test", "--student", "r1", "--date", "2026-10-06")
    explained = json.loads(env.engage(*args, "--json").stdout)
    old_year = {"ele_minutes": 0.446, "app_choices": 0.068, "event_checkins": 1.11}
    first, last = explained["days"][0], explained["days"][-1]
    assert (first["date"], first["coefficients"]) == ("2026-09-30", old_year)
    assert (last["date"], last["coefficients"]) == ("2026-10-06", new_year)
    assert explained["coefficients"] == new_year
    for shown in explained["days"]:
        products = sum(shown["coefficients"][m] * shown[m] for m in new_year)
        assert products == pytest.approx(shown["daily_score"]), shown["date"]
    assert first["daily_score"] == pytest.approx(10 * 0.446)
    assert last["daily_score"] == pytest.approx(20.0)
    readable = env.engage(*args).stdout
    assert "0.446 x 10.00 + 0.068 x 0 + 1.11 x 0 = 4.460" in readable
    assert "1 x 20.00 + 0 x 0 + 0 x 0 = 20.000" in readable


def test_a_worker_restarted_after_a_recompute_averages_only_the_new_scores(
        engine_env: EngineEnv, worker: WorkerProcess) -> None:
    """The worker keeps each student's recent daily scores in its state, for the 7-day
    averages of the days to come. A recompute rewrites that state too: a worker started after
    it must not average the old coefficients' scores with the new ones."""
    now = datetime.now(tz=UTC)
    days = [(now - timedelta(days=k)).replace(hour=10, minute=0, second=0, microsecond=0)
            for k in (4, 3, 2)]
    events = [event("roster.student", "r1", days[0] - timedelta(days=1), college="CLES"),
              *(event("vle.click", "r1", day + timedelta(minutes=2 * k), module="M")
                for day in days for k in range(5))]
    worker.start()
    send(engine_env, worker, events)
    worker.stop()

    changed = json.loads(json.dumps(TEST_TENANTS))
    changed["tenants"]["uni-test"]["coefficient_sets"].append(
        {"valid_from": days[0].date().isoformat(),
         "colleges": {"CLES": {"ele_minutes": 1.0, "app_choices": 0.0, "event_checkins": 0.0}}})
    engine_env.tenant_config.write_text(yaml.safe_dump(changed))
    report = json.loads(engine_env.engage("recompute", "--tenant", "uni-test", "--from",
                                          days[0].date().isoformat()).stdout)
    assert report["worker_states_updated"] == 1

    later = now - timedelta(hours=1)
    worker.start()
    send(engine_env, worker, [event("vle.click", "r1", later + timedelta(minutes=2 * k),
                                    module="M") for k in range(3)])
    worker.stop()
    with open_clickhouse(engine_env.clickhouse_path) as client:
        scores = dict(rows(client, "SELECT day, daily_score FROM daily_scores FINAL "
                                   "WHERE student_id = 'r1'"))
        [(average,)] = rows(client, "SELECT score_7d FROM daily_scores FINAL "
                                    f"WHERE student_id = 'r1' AND day = '{later.date()}'")
    assert [scores[day.date()] for day in days] == [pytest.approx(10.0)] * 3
    window = [later.date() - timedelta(days=k) for k in range(7)]
    assert average == pytest.approx(sum(scores.get(day, 0.0) for day in window) / 7)
