"""A synthetic institution: colleges, programmes, modules, students, tutors, consent, and a
known set of students who disengage on a known day (the ground truth for alert quality)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

COLLEGES: dict[str, dict[str, float]] = {
    # Illustrative coefficients, not recommendations.
    "CLES": {"ele_minutes": 0.446, "app_choices": 0.068, "event_checkins": 1.11},
    "CEMPS": {"ele_minutes": 0.402, "app_choices": 0.075, "event_checkins": 1.25},
    "CSSIS": {"ele_minutes": 0.471, "app_choices": 0.061, "event_checkins": 0.98},
    "CHUMS": {"ele_minutes": 0.515, "app_choices": 0.052, "event_checkins": 1.05},
}
SUBJECTS = {
    "CLES": ("BIO", "PSY"), "CEMPS": ("MTH", "ENG"), "CSSIS": ("ECO", "POL"),
    "CHUMS": ("HIS", "ENL"),
}
STUDENTS_PER_TUTOR = 15
CONSENT_SHARE = 0.85
DISENGAGED_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Student:
    student_id: str
    college: str
    programme: str
    year_group: str
    tutor_id: str
    modules: tuple[str, ...]
    consents: bool
    engagement: float
    disengage_day: date | None


@dataclass(frozen=True, slots=True)
class DisengagedStudent:
    student_id: str
    disengage_day: date


@dataclass(frozen=True, slots=True)
class InstitutionPlan:
    tenant: str
    seed: int
    start: date
    days: int
    students: tuple[Student, ...]

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)


def plan_institution(students: int, days: int, seed: int, tenant: str = "demo-university",
                     start: date = date(2026, 10, 5)) -> InstitutionPlan:
    rng = random.Random(f"plan:{seed}")
    colleges = sorted(COLLEGES)
    planned = []
    for n in range(1, students + 1):
        college = colleges[rng.randrange(len(colleges))]
        subject = SUBJECTS[college][rng.randrange(2)]
        year = rng.randint(1, 3)
        modules = tuple(f"{subject}{year}{k:03d}" for k in rng.sample(range(1, 9), 4))
        planned.append(Student(
            student_id=f"s{n:05d}",
            college=college,
            programme=f"{subject}-BSc",
            year_group=str(year),
            tutor_id=f"t{(n - 1) // STUDENTS_PER_TUTOR + 1:03d}",
            modules=modules,
            consents=rng.random() < CONSENT_SHARE,
            engagement=min(2.5, max(0.35, rng.lognormvariate(0.0, 0.35))),
            disengage_day=None,
        ))
    planned = _choose_disengaged(planned, days, start, rng)
    return InstitutionPlan(tenant, seed, start, days, tuple(planned))


def _choose_disengaged(students: list[Student], days: int, start: date, rng: random.Random
                       ) -> list[Student]:
    earliest, latest = 16, days - 5
    candidates = [i for i, s in enumerate(students) if s.consents]
    if latest < earliest or not candidates:
        return students
    wanted = max(1 if len(students) >= 10 else 0, round(len(students) * DISENGAGED_SHARE))
    chosen = rng.sample(candidates, min(wanted, len(candidates)))
    for index in chosen:
        day = start + timedelta(days=rng.randint(earliest, latest))
        students[index] = replace(students[index], disengage_day=day)
    return students


def ground_truth(plan: InstitutionPlan) -> list[DisengagedStudent]:
    return [DisengagedStudent(s.student_id, s.disengage_day)
            for s in plan.students if s.disengage_day is not None]


def tenant_config(plan: InstitutionPlan | None = None) -> dict[str, Any]:
    """The institution's tenant configuration (it does not depend on the student count)."""
    return {
        "timezone": "Europe/London",
        "consent_mode": "opt_in",
        "coefficient_sets": [
            {"valid_from": "2026-08-01",
             "colleges": {name: dict(values) for name, values in sorted(COLLEGES.items())}},
        ],
        "bands": [
            {"name": "low", "below": 5.0},
            {"name": "typical", "below": 15.0},
            {"name": "high", "below": None},
        ],
    }
