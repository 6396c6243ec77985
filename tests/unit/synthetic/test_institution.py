"""The synthetic institution is deterministic, realistic enough, and tells the truth."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from schemas.events import EVENT_ADAPTER
from synthetic import ground_truth, iter_events, plan_institution, tenant_config, write_jsonl

ROOT = Path(__file__).resolve().parents[3]
LONDON = ZoneInfo("Europe/London")


def local_day(event: dict[str, object]) -> date:
    moment = datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
    return moment.astimezone(LONDON).date()


def test_same_seed_same_events_other_seed_other_events() -> None:
    first = list(iter_events(plan_institution(30, 7, seed=1)))
    again = list(iter_events(plan_institution(30, 7, seed=1)))
    other = list(iter_events(plan_institution(30, 7, seed=2)))
    assert first == again
    assert first != other


def test_events_are_valid_ordered_and_uniquely_identified() -> None:
    events = list(iter_events(plan_institution(40, 10, seed=3)))
    times = [datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")) for e in events]
    assert times == sorted(times)
    assert len({e["event_id"] for e in events}) == len(events)
    for event in events:
        EVENT_ADAPTER.validate_python(event)
    kinds = Counter(e["type"] for e in events)
    assert set(kinds) >= {"vle.click", "app.menu_choice", "attendance.swipe", "roster.student",
                          "consent.changed"}


def test_about_85_percent_consent() -> None:
    plan = plan_institution(1000, 1, seed=5)
    share = sum(s.consents for s in plan.students) / len(plan.students)
    assert 0.8 <= share <= 0.9


def test_disengaged_students_consent_and_really_go_quiet() -> None:
    plan = plan_institution(200, 35, seed=9)
    truth = ground_truth(plan)
    assert truth
    consenting = {s.student_id for s in plan.students if s.consents}
    clicks: Counter[tuple[str, bool]] = Counter()
    events = list(iter_events(plan))
    for disengaged in truth:
        assert disengaged.student_id in consenting
        assert plan.start + timedelta(days=16) <= disengaged.disengage_day <= plan.end
    quiet_day = {t.student_id: t.disengage_day for t in truth}
    for event in events:
        student = event["student_id"]
        if event["type"] == "vle.click" and student in quiet_day:
            clicks[(student, local_day(event) >= quiet_day[student])] += 1
    for student, day in quiet_day.items():
        before_days = (day - plan.start).days
        after_days = (plan.end - day).days + 1
        before = clicks[(student, False)] / before_days
        after = clicks[(student, True)] / after_days
        assert after < before / 10


def test_days_follow_london_time_across_the_clock_change() -> None:
    plan = plan_institution(20, 3, seed=4, start=date(2026, 10, 24))
    days = {local_day(e) for e in iter_events(plan) if e["type"] != "roster.student"}
    assert days <= {date(2026, 10, 23), date(2026, 10, 24), date(2026, 10, 25),
                    date(2026, 10, 26)}


def test_write_jsonl_round_trips(tmp_path: Path) -> None:
    plan = plan_institution(10, 2, seed=6)
    path = tmp_path / "events.jsonl"
    count = write_jsonl(iter_events(plan), path)
    assert count == len(path.read_text().splitlines()) == len(list(iter_events(plan)))


def test_the_demo_tenant_file_is_the_generator_configuration() -> None:
    shipped = yaml.safe_load((ROOT / "config" / "tenants.example.yaml").read_text())
    assert shipped["tenants"]["demo-university"] == tenant_config()
