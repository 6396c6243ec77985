"""Roster fields the engine may keep. Special category data is never stored or scored.

The rule is an allow-list: any roster field not named here is dropped, whatever it is called.
The special-category hints only decide which reason a dropped field is counted under, so a
field they miss is still dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ALLOWED_ROSTER_FIELDS = frozenset({
    "event_id", "type", "tenant", "student_id", "occurred_at", "source",
    "college", "programme", "year_group", "tutor_id",
})

# Word stems: a field name matches when one of its words starts with one of them.
SPECIAL_CATEGORY_HINTS = frozenset({
    "ethnic", "race", "racial", "disab", "health", "medic", "illness", "diagnos", "impairment",
    "religio", "faith", "belief", "sexual", "lgbt", "transgender", "biometric", "fingerprint",
    "genetic", "genom", "dna", "criminal", "convict", "offence", "offense", "politic", "pregnan",
})
# Words too short to be stems ("trans" would catch "transport"): matched whole.
SPECIAL_CATEGORY_WORDS = frozenset({"trans", "sen"})
# Phrases whose words are harmless alone ("gender", "union", "record"); matched on the name
# with its separators removed.
SPECIAL_CATEGORY_PHRASES = frozenset({
    "genderidentity", "sexorientation", "tradeunion", "unionmember", "criminalrecord",
})

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")

SPECIAL_CATEGORY = "special_category"
NOT_ALLOWED = "not_allowed"


def filter_roster_fields(extra: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Split a roster event's fields into those kept (allow-listed) and the sorted names of
    those dropped, for the caller to count."""
    kept = {name: value for name, value in extra.items() if name in ALLOWED_ROSTER_FIELDS}
    dropped = sorted(name for name in extra if name not in ALLOWED_ROSTER_FIELDS)
    return kept, dropped


def _words(field_name: str) -> list[str]:
    spaced = _CAMEL_BOUNDARY.sub("_", field_name).lower()
    return [word for word in _SEPARATORS.split(spaced) if word]


def drop_reason(field_name: str) -> str:
    """`special_category` when the name looks like special category data, else
    `not_allowed`; the label of the dropped-field counter."""
    words = _words(field_name)
    if any(word.startswith(hint) for word in words for hint in SPECIAL_CATEGORY_HINTS):
        return SPECIAL_CATEGORY
    if SPECIAL_CATEGORY_WORDS.intersection(words):
        return SPECIAL_CATEGORY
    joined = "".join(words)
    if any(phrase in joined for phrase in SPECIAL_CATEGORY_PHRASES):
        return SPECIAL_CATEGORY
    return NOT_ALLOWED
