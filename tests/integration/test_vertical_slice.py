"""Events produced to the real broker end up, scored, in the real ClickHouse engine."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.clickhouse import open_clickhouse, rows
from tests.support.events import event, jsonl
from tests.support.worker import EngineEnv, WorkerProcess

pytestmark = pytest.mark.integration


def wait_for(predicate, timeout: float = 90, interval: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def test_clicks_flow_from_kafka_to_clickhouse(engine_env: EngineEnv, worker: WorkerProcess,
                                              tmp_path: Path) -> None:
    day = datetime(2026, 10, 6, 10, 0, tzinfo=UTC)
    clicks = [
        event("roster.student", "s1", day - timedelta(days=1), college="CLES", tutor_id="t1"),
        *(event("vle.click", "s1", day + timedelta(minutes=m), module=mod)
          for m, mod in [(0, "A"), (3, "A"), (4.5, "B"), (9.5, "B"), (12, "A"), (30, "A")]),
        event("vle.click", "s2", day, module="A"),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(clicks))
    worker.start()
    produced = engine_env.engage("produce", "--events", str(path))
    assert '"sent": 8' in produced.stdout

    def scored() -> bool:
        summary = worker.query("summary")["rows"]
        return summary["activity"] == 7 and summary["daily_measures"] >= 2

    wait_for(scored)
    explained = worker.query("explain", tenant="uni-test", student="s1", date="2026-10-06")
    today = explained["days"][-1]
    assert today["ele_minutes"] == pytest.approx(13.0)
    assert today["ele_minutes_by_module"] == {"A": 8.5, "B": 4.5}
    explain_args = ("explain", "--tenant", "uni-test", "--student", "s1", "--date",
                    "2026-10-06", "--json")
    while_running = json.loads(engine_env.engage(*explain_args).stdout)
    assert while_running["days"][-1]["ele_minutes"] == pytest.approx(13.0)
    assert while_running["coefficients"] == {"ele_minutes": 0.446, "app_choices": 0.068,
                                             "event_checkins": 1.11}
    worker.stop()
    assert json.loads(engine_env.engage(*explain_args).stdout) == while_running
    readable = engine_env.engage(*explain_args[:-1]).stdout
    assert "score_7d = (" in readable
    assert "0.446 x 13.00" in readable

    with open_clickhouse(engine_env.clickhouse_path) as client:
        measured = rows(client, "SELECT student_id, ele_minutes FROM daily_measures FINAL "
                                "ORDER BY student_id")
        assert measured == [("s1", 13.0), ("s2", 2.0)]
        scores = rows(client, "SELECT score_7d FROM daily_scores FINAL WHERE student_id = 's1' "
                              "AND day = '2026-10-06'")
        assert scores == [(pytest.approx(13.0 * 0.446 / 7),)]
