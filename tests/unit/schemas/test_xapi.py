"""xAPI statements map to events following the Jisc recipes; the rest is reported ignored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.decode import DeadLetterReason, Rejection
from schemas.events import EVENT_MODELS, VleClick
from schemas.xapi import (
    ACCESSED,
    ATTENDED,
    COURSE_TYPES,
    NON_TIMETABLED,
    TIMETABLED,
    VIEWED,
    IgnoredStatement,
    map_statement,
)

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
    assert isinstance(event, VleClick)
    assert event.module == "BIO1001"
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


def test_a_single_parent_activity_object_is_read_like_an_array_of_one() -> None:
    statement = viewed(contextActivities={"parent": {
        "id": "https://vle.example.ac.uk/course/view.php?id=7",
        "definition": {"type": "http://adlnet.gov/expapi/activities/course",
                       "name": {"en": "PSY2003"}}}})
    assert getattr(map_statement(statement, tenant="demo-university"), "module", None) == "PSY2003"


def with_member(statement: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `statement` with the member at the dotted `path` set to `value`."""
    copy = json.loads(json.dumps(statement))
    *parents, last = path.split(".")
    target = copy
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value
    return copy


GROUPING = "context.contextActivities.grouping"


@pytest.mark.parametrize(("statement", "named"), [
    (with_member(viewed(), "verb", "viewed"), "verb: must be an object, not a string"),
    (with_member(viewed(), "verb.id", 42), "verb.id: must be a string, not a number"),
    (with_member(viewed(), "actor", ["s00042"]), "actor: must be an object, not an array"),
    (with_member(viewed(), "actor.account", "s00042"), "actor.account: must be an object"),
    (with_member(viewed(), "actor.account.name", {"id": 1}), "actor.account.name: must be a"),
    (with_member(viewed(), "actor", {"mbox": True}), "actor.mbox: must be a string"),
    (with_member(viewed(), "object", "https://vle.example.ac.uk/"), "object: must be an object"),
    (with_member(viewed(), "object.id", [1]), "object.id: must be a string, not an array"),
    (with_member(viewed(), "context", []), "context: must be an object, not an array"),
    (with_member(viewed(), "context.extensions", "x"), "context.extensions: must be an object"),
    (with_member(viewed(), "context.contextActivities", 3),
     "context.contextActivities: must be an object, not a number"),
    (with_member(viewed(), GROUPING, "course"),
     "context.contextActivities.grouping: must be an array of activities, not a string"),
    (with_member(viewed(), GROUPING, [None, 7]),
     "context.contextActivities.grouping[0]: an activity must be an object, not null"),
    (with_member(viewed(), "context.contextActivities.parent", [{"definition": "course"}]),
     "context.contextActivities.parent[0].definition: must be an object, not a string"),
    (with_member(viewed(), GROUPING, [{"definition": {"type": ["course"]}}]),
     "context.contextActivities.grouping[0].definition.type: must be a string, not an array"),
    (with_member(viewed(), GROUPING, [{"definition": {
        "type": "http://adlnet.gov/expapi/activities/course", "extensions": ["x"]}}]),
     "grouping[0].definition.extensions: must be an object, not an array"),
    (with_member(viewed(), "id", {"uuid": "x"}), "id: must be a string, not an object"),
    (with_member(attended(TIMETABLED), "result", "present"), "result: must be an object"),
    (with_member(attended(TIMETABLED), "result.extensions", []), "result.extensions: must be"),
    (with_member(attended(TIMETABLED), "object.definition", "x"), "object.definition: must be"),
    (with_member(attended(TIMETABLED), "object.definition.type", {}),
     "object.definition.type: must be a string, not an object"),
])
def test_a_member_of_the_wrong_json_type_is_a_schema_violation_naming_it(
    statement: dict[str, Any], named: str
) -> None:
    result = map_statement(statement, tenant="demo-university")
    assert isinstance(result, Rejection), result
    assert result.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert named in result.detail


@pytest.mark.parametrize("statement", [None, 1, "statement", [viewed()], True])
def test_a_statement_that_is_not_an_object_is_rejected(statement: Any) -> None:
    result = map_statement(statement, tenant="demo-university")
    assert result == Rejection(DeadLetterReason.SCHEMA_VIOLATION,
                               "a statement must be a JSON object")


def test_a_statement_too_deep_to_derive_an_id_from_is_rejected() -> None:
    statement = viewed()
    del statement["id"]
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    statement["context"]["extensions"] = {"http://example.org/deep": deep}
    result = map_statement(statement, tenant="demo-university")
    assert isinstance(result, Rejection)
    assert "nested too deeply" in result.detail


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)


def member(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A statement member: mostly of the shape the mapping reads, one time in eight any JSON."""
    return st.integers(0, 7).flatmap(lambda draw: JSON if draw == 0 else right)


def shaped(members: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({k: member(v) for k, v in members.items()})


def jisc(**members: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return shaped({f"http://xapi.jisc.ac.uk/{name}": value for name, value in members.items()})


TEXT = st.text(min_size=1, max_size=12)
DEFINITION = shaped({
    "type": st.sampled_from([*sorted(COURSE_TYPES), TIMETABLED, NON_TIMETABLED, "x/event"]),
    "name": shaped({"en": TEXT}),
    "extensions": jisc(vle_mod_id=TEXT),
})
IRI = st.from_regex(r"\Ahttps://vle\.example\.ac\.uk/[a-z0-9/]{0,20}\Z")
ACTIVITY = shaped({"id": IRI, "definition": DEFINITION})
ACTIVITIES = st.lists(member(ACTIVITY), max_size=3) | ACTIVITY
STATEMENTS = shaped({
    "id": st.uuids().map(str) | st.none(),
    "actor": shaped({"account": shaped({"name": st.from_regex(r"\As[0-9]{1,6}\Z")}),
                     "mbox": TEXT}),
    "verb": shaped({"id": st.sampled_from([VIEWED, ACCESSED, ATTENDED, "x/answered"])}),
    "object": shaped({"id": IRI, "definition": shaped({
        "type": st.sampled_from([TIMETABLED, NON_TIMETABLED, "x/event", "x/page"])})}),
    "result": shaped({"completion": st.booleans(),
                      "extensions": jisc(attendance_late=JSON, attendance_category=JSON)}),
    "context": shaped({
        "extensions": jisc(courseArea=jisc(vle_mod_id=TEXT, uddModInstanceID=TEXT)),
        "contextActivities": shaped({"parent": ACTIVITIES, "grouping": ACTIVITIES}),
    }),
    "timestamp": st.sampled_from(["2026-10-06T10:03:00Z", "2026-10-06T11:03:00+01:00",
                                  "2026-10-06"]),
    "stored": JSON,
})
ANSWERS: tuple[type, ...] = (IgnoredStatement, Rejection, *EVENT_MODELS.values())


def assert_answered(result: Any) -> None:
    assert isinstance(result, ANSWERS), result
    if isinstance(result, Rejection):
        assert result.reason is DeadLetterReason.SCHEMA_VIOLATION
        assert result.detail


STATEMENT_KEYS = ["id", "actor", "verb", "object", "result", "context", "timestamp", "stored"]


@given(JSON | st.dictionaries(st.sampled_from(STATEMENT_KEYS), JSON))
def test_any_json_value_is_answered_never_raised(value: Any) -> None:
    assert_answered(map_statement(value, tenant="demo-university"))


@settings(max_examples=400)
@given(STATEMENTS)
def test_any_statement_shaped_value_is_answered_never_raised(statement: Any) -> None:
    assert_answered(map_statement(statement, tenant="demo-university"))
