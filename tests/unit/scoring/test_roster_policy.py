"""Special category data never passes the roster allow-list."""

from __future__ import annotations

from scoring.roster_policy import drop_reason, filter_roster_fields


def test_fields_outside_the_allow_list_are_dropped_and_named() -> None:
    kept, dropped = filter_roster_fields({"ethnicity": "x", "disability": True,
                                          "favourite_colour": "blue", "college": "CLES"})
    assert kept == {"college": "CLES"}
    assert dropped == ["disability", "ethnicity", "favourite_colour"]


def test_special_category_fields_are_labelled_as_such() -> None:
    assert drop_reason("Ethnicity") == "special_category"
    assert drop_reason("health_condition") == "special_category"
    assert drop_reason("religion") == "special_category"
    assert drop_reason("favourite_colour") == "not_allowed"
