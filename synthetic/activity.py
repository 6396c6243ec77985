"""The synthetic institution's events, day by day, in time order.

A consenting, typically engaged student produces about 30-60 events on a weekday (VLE clicks in
two to four sessions with an evening peak, a few app choices, two timetabled sessions) and far
fewer at weekends; careers events run on Wednesdays. After their disengagement day a student
almost stops clicking and mostly misses their sessions.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from synthetic.institution import InstitutionPlan, Student

ZONE = ZoneInfo("Europe/London")
SESSION_HOURS = (9, 10, 11, 13, 14, 15, 16, 18, 19, 20, 20, 21, 21, 22)
MENU_ITEMS = ("timetable", "library", "news", "campus-map", "printing", "wellbeing", "careers")
ATTENDANCE_SLOTS = (10, 14)
Draft = tuple[int, str, dict[str, Any]]  # (epoch ms, student, fields)


def _epoch_ms(day: date, seconds: int) -> int:
    local = datetime(day.year, day.month, day.day, tzinfo=ZONE) + timedelta(seconds=seconds)
    # Adding to an aware datetime keeps wall time; re-resolve so DST days are exact.
    local = local.replace(tzinfo=None).replace(tzinfo=ZONE)
    return int(local.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _vle_sessions(student: Student, day: date, rng: random.Random, quiet: bool
                  ) -> Iterator[Draft]:
    weekday = day.weekday() < 5
    if quiet:
        if rng.random() < 0.15:
            yield (_epoch_ms(day, rng.randint(10, 21) * 3600), "vle.click",
                   {"module": student.modules[0], "page": "/course/view"})
        return
    sessions = rng.randint(2, 4) if weekday else rng.randint(0, 2)
    for _ in range(sessions):
        at = SESSION_HOURS[rng.randrange(len(SESSION_HOURS))] * 3600 + rng.randrange(3600)
        module = student.modules[rng.randrange(len(student.modules))]
        for _ in range(max(1, int(rng.randint(4, 12) * student.engagement))):
            page_module = None if rng.random() < 0.05 else module
            yield (_epoch_ms(day, at), "vle.click",
                   {"module": page_module, "page": f"/mod/page/{rng.randint(1, 60)}"})
            at += rng.randint(10, 240) if rng.random() < 0.9 else rng.randint(301, 1200)
            if at >= 86_399:
                break


def _app_choices(day: date, rng: random.Random, student: Student, quiet: bool
                 ) -> Iterator[Draft]:
    if quiet:
        return
    for _ in range(int(rng.randint(0, 5) * student.engagement)):
        yield (_epoch_ms(day, rng.randint(8 * 3600, 23 * 3600)), "app.menu_choice",
               {"menu_item": MENU_ITEMS[rng.randrange(len(MENU_ITEMS))]})


def _attendance(student: Student, day: date, rng: random.Random, quiet: bool
                ) -> Iterator[Draft]:
    if day.weekday() >= 5:
        return
    for slot, hour in enumerate(ATTENDANCE_SLOTS):
        roll = rng.random()
        if quiet:
            status = "absent" if roll < 0.8 else "present"
        else:
            status = ("present" if roll < 0.86 else "late" if roll < 0.93
                      else "absent" if roll < 0.98 else "authorised_absence")
        module = student.modules[(day.toordinal() + slot) % len(student.modules)]
        yield (_epoch_ms(day, hour * 3600 + rng.randint(0, 600)), "attendance.swipe",
               {"session_id": f"{module}-{day.isoformat()}-{hour:02d}", "status": status})


def _careers(day: date, rng: random.Random, quiet: bool) -> Iterator[Draft]:
    event_ref = f"careers-{day.isocalendar().week}"
    if day.weekday() == 0 and rng.random() < 0.12:
        yield (_epoch_ms(day, rng.randint(9 * 3600, 20 * 3600)), "event.registered",
               {"event_ref": event_ref})
    if day.weekday() == 2 and not quiet and rng.random() < 0.07:
        yield (_epoch_ms(day, 13 * 3600 + rng.randint(0, 900)), "event.checkin",
               {"event_ref": event_ref})


def _student_day(plan: InstitutionPlan, student: Student, day: date) -> list[Draft]:
    rng = random.Random(f"{plan.seed}:{student.student_id}:{day.toordinal()}")
    quiet = student.disengage_day is not None and day >= student.disengage_day
    drafts: list[Draft] = []
    for source in (_vle_sessions(student, day, rng, quiet), _app_choices(day, rng, student, quiet),
                   _attendance(student, day, rng, quiet), _careers(day, rng, quiet)):
        drafts.extend((ms, kind, {**fields, "_student": student.student_id})
                      for ms, kind, fields in source)
    return drafts


SOURCES = {"vle.click": "vle", "app.menu_choice": "campus-app", "attendance.swipe": "attendance",
           "event.checkin": "careers", "event.registered": "careers"}


def _setup_events(plan: InstitutionPlan) -> list[Draft]:
    before = _epoch_ms(plan.start, 0) - 30 * 60_000
    drafts: list[Draft] = []
    for student in plan.students:
        drafts.append((before, "roster.student", {
            "_student": student.student_id, "college": student.college,
            "programme": student.programme, "year_group": student.year_group,
            "tutor_id": student.tutor_id}))
        if student.consents:
            drafts.append((before + 60_000, "consent.changed",
                           {"_student": student.student_id, "granted": True}))
    return drafts


def iter_events(plan: InstitutionPlan) -> Iterator[dict[str, Any]]:
    """Every event of the run as JSON-ready dicts, in non-decreasing `occurred_at` order."""
    counter = 0

    def emit(drafts: list[Draft]) -> Iterator[dict[str, Any]]:
        nonlocal counter
        drafts.sort(key=lambda d: (d[0], d[2]["_student"], d[1]))
        for ms, kind, fields in drafts:
            counter += 1
            student = fields.pop("_student")
            event: dict[str, Any] = {
                "event_id": f"{plan.tenant}-{plan.seed}-{counter:09d}",
                "type": kind,
                "tenant": plan.tenant,
                "student_id": student,
                "occurred_at": _iso(ms),
            }
            source = SOURCES.get(kind)
            if source:
                event["source"] = source
            event.update(fields)
            yield event

    yield from emit(_setup_events(plan))
    for offset in range(plan.days):
        day = plan.start + timedelta(days=offset)
        drafts: list[Draft] = []
        for student in plan.students:
            drafts.extend(_student_day(plan, student, day))
        yield from emit(drafts)


def write_jsonl(events: Iterable[dict[str, Any]], path: Path, progress: bool = False,
                total: int | None = None) -> int:
    from tqdm import tqdm

    count = 0
    with path.open("w", encoding="utf-8") as handle, \
            tqdm(total=total, unit="ev", disable=not progress) as bar:
        for event in events:
            handle.write(json.dumps(event, separators=(",", ":")))
            handle.write("\n")
            count += 1
            if count % 10_000 == 0:
                bar.update(10_000)
        bar.update(count % 10_000)
    return count
