"""Roster fields the engine may keep. Special category data is never stored or scored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALLOWED_ROSTER_FIELDS = frozenset({
    "event_id", "type", "tenant", "student_id", "occurred_at", "source",
    "college", "programme", "year_group", "tutor_id",
})

SPECIAL_CATEGORY_HINTS = (
    "ethnic", "race", "disab", "health", "medical", "religio", "belief", "faith", "sexual",
    "orientation", "gender_identity", "trans", "union", "biometric", "genetic", "criminal",
    "conviction", "political", "pregnan",
)


def filter_roster_fields(extra: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keep nothing outside the allow-list; return what is kept and the names dropped."""
    kept = {k: v for k, v in extra.items() if k in ALLOWED_ROSTER_FIELDS}
    dropped = sorted(k for k in extra if k not in ALLOWED_ROSTER_FIELDS)
    return kept, dropped


def drop_reason(field_name: str) -> str:
    lowered = field_name.lower()
    if any(hint in lowered for hint in SPECIAL_CATEGORY_HINTS):
        return "special_category"
    return "not_allowed"
