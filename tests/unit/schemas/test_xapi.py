"""xAPI statements map to events following the Jisc recipes; the rest is reported ignored."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.decode import Rejection
from schemas.xapi import ATTENDED, VIEWED, IgnoredStatement, map_statement

ACTOR = {"objectType": "Agent", "name": "Jo Bloggs",
         "account": {"name": "s00042", "homePage": "https://vle.example.ac.uk"}}


def viewed(**context: Any) -> dict[str, Any]:
    return {
        "id": "0f6a1b7e-3c1d-4b9a-9d43-3f2a4b1c9e01",
        "actor": ACTOR,
        "verb": {"id": VIEWED, "display": {"en": "viewed"}},
        "object": {"objectType": "Activity",
                   "id": "https://vle.example.ac.uk/mod/page/view.php?id=118",
                   "definition": {"type": "http://id.tincanapi.com/activitytype/lms/module"}},
        "timestamp": "2026-10-06T10:03:00.000Z",
        "context": context,
    }


def attended(kind: str, completion: bool = True, **extensions: Any) -> dict[str, Any]:
    return {
        "id": "7c1d2e3f-1111-4222-8333-944455556666",
        "actor": ACTOR,
        "verb": {"id": ATTENDED, "display": {"en": "attended"}},
        "object": {"objectType": "Activity",
                   "id": "https://timetable.example.ac.uk/2026/bio1001/lecture-3",
                   "definition": {"type": kind}},
        "result": {"completion": completion,
                   "extensions": {f"http://xapi.jisc.ac.uk/{k}": v
                                  for k, v in extensions.items()}},
        "timestamp": "2026-10-06T09:00:00.000Z",
    }


def test_a_jisc_viewed_statement_is_a_vle_click_with_the_module_code() -> None:
    statement = viewed(extensions={
        "http://xapi.jisc.ac.uk/courseArea": {"http://xapi.jisc.ac.uk/vle_mod_id": "BIO1001"}})
    event = map_statement(statement, tenant="demo-university")
    assert not isinstance(event, IgnoredStatement | Rejection)
    assert event.type == "vle.click"
    assert event.module == "BIO1001"  # type: ignore[union-attr]
    assert event.student_id == "s00042"
    assert event.event_id == statement["id"]


def test_a_moodle_style_statement_takes_the_module_from_the_grouping_course() -> None:
    statement = viewed(contextActivities={"grouping": [
        {"id": "https://vle.example.ac.uk", "definition": {
            "type": "http://id.tincanapi.com/activitytype/lms"}},
        {"id": "https://vle.example.ac.uk/course/view.php?id=7", "definition": {
            "type": "http://id.tincanapi.com/activitytype/lms/course",
            "name": {"en": "PSY2003"}}},
    ]})
    event = map_statement(statement, tenant="demo-university")
    assert getattr(event, "module", None) == "PSY2003"


def test_a_page_outside_any_module_has_a_null_module() -> None:
    event = map_statement(viewed(), tenant="demo-university")
    assert not isinstance(event, IgnoredStatement | Rejection)
    assert getattr(event, "module", "unset") is None


@pytest.mark.parametrize(("completion", "extensions", "status"), [
    (True, {}, "present"),
    (True, {"attendance_late": 1}, "late"),
    (False, {}, "absent"),
    (False, {"attendance_category": "Authorised absence"}, "authorised_absence"),
])
def test_timetabled_attendance_becomes_an_attendance_swipe(
    completion: bool, extensions: dict[str, Any], status: str
) -> None:
    event = map_statement(attended("http://xapi.jisc.ac.uk/event_timetabled", completion,
                                   **extensions), tenant="demo-university")
    assert getattr(event, "type", None) == "attendance.swipe"
    assert getattr(event, "status", None) == status


def test_attending_an_untimetabled_event_is_a_checkin() -> None:
    event = map_statement(attended("http://xapi.jisc.ac.uk/event_non-timetabled"),
                          tenant="demo-university")
    assert getattr(event, "type", None) == "event.checkin"


def test_unmapped_verbs_are_reported_as_ignored_with_the_verb() -> None:
    statement = viewed()
    statement["verb"] = {"id": "http://adlnet.gov/expapi/verbs/answered"}
    result = map_statement(statement, tenant="demo-university")
    assert isinstance(result, IgnoredStatement)
    assert result.verb == "http://adlnet.gov/expapi/verbs/answered"


def test_statements_without_an_id_get_a_stable_one() -> None:
    statement = viewed()
    del statement["id"]
    first = map_statement(statement, tenant="demo-university")
    second = map_statement(statement, tenant="demo-university")
    assert getattr(first, "event_id", None) == getattr(second, "event_id", "x")


def test_a_statement_without_a_time_is_rejected_clearly() -> None:
    statement = viewed()
    del statement["timestamp"]
    result = map_statement(statement, tenant="demo-university")
    assert isinstance(result, Rejection)
    assert "occurred_at" in result.detail
