"""A deterministic synthetic institution for the demo, the tests and the benchmark."""

from synthetic.activity import iter_events, write_jsonl
from synthetic.institution import (
    DisengagedStudent,
    InstitutionPlan,
    Student,
    ground_truth,
    plan_institution,
    tenant_config,
)

__all__ = [
    "DisengagedStudent",
    "InstitutionPlan",
    "Student",
    "ground_truth",
    "iter_events",
    "plan_institution",
    "tenant_config",
    "write_jsonl",
]
