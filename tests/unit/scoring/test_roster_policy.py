"""Special category data never passes the roster allow-list."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.roster_policy import ALLOWED_ROSTER_FIELDS, drop_reason, filter_roster_fields


def test_fields_outside_the_allow_list_are_dropped_and_named() -> None:
    kept, dropped = filter_roster_fields({"ethnicity": "x", "disability": True,
                                          "favourite_colour": "blue", "college": "CLES"})
    assert kept == {"college": "CLES"}
    assert dropped == ["disability", "ethnicity", "favourite_colour"]


def test_a_complete_allowed_roster_keeps_everything() -> None:
    roster = {"college": "CLES", "programme": "BIO-BSc", "year_group": "1", "tutor_id": "t003"}
    assert filter_roster_fields(roster) == (roster, [])


@pytest.mark.parametrize("name", [
    "Ethnicity", "race", "health_condition", "religion", "disabilityStatus", "sexual_orientation",
    "gender_identity", "is_trans", "trade_union_member", "BiometricId", "genetic_marker",
    "criminal_record", "convictions", "has_SEN", "medical_notes",
])
def test_special_category_fields_are_labelled_as_such(name: str) -> None:
    assert drop_reason(name) == "special_category"


@pytest.mark.parametrize("name", [
    "favourite_colour", "trace_id", "transport_mode", "students_union", "orientation_week",
    "gender", "email",
])
def test_other_fields_are_labelled_not_allowed(name: str) -> None:
    assert drop_reason(name) == "not_allowed"


@given(st.dictionaries(
    st.one_of(st.sampled_from(sorted(ALLOWED_ROSTER_FIELDS)), st.text(max_size=20)),
    st.integers(), max_size=12,
))
def test_only_allow_listed_fields_are_kept_and_every_other_one_is_named(
    extra: dict[str, Any]
) -> None:
    kept, dropped = filter_roster_fields(extra)
    assert set(kept) <= ALLOWED_ROSTER_FIELDS
    assert kept == {k: v for k, v in extra.items() if k in ALLOWED_ROSTER_FIELDS}
    assert dropped == sorted(set(extra) - ALLOWED_ROSTER_FIELDS)
    assert all(drop_reason(name) in {"special_category", "not_allowed"} for name in dropped)
