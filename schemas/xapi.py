"""xAPI statements (as a VLE plugin or a learning records warehouse sends them) to events.

The mapping table below follows the ADL xAPI specification's statement structure (actor,
verb, object, result, context, timestamp) and the Jisc learning analytics xAPI recipes
("VLE viewed", "attended learning event"); `docs/xapi-mapping.md` documents it.

Statements arrive as any JSON at all: a member the mapping reads with the wrong JSON type is a
`schema_violation` naming that member, never an exception.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.decode import DeadLetterReason, Rejection
from schemas.events import EVENT_ADAPTER, Event

VIEWED = "http://id.tincanapi.com/verb/viewed"
EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"
ACCESSED = "http://activitystrea.ms/schema/1.0/access"
ATTENDED = "http://adlnet.gov/expapi/verbs/attended"
TIMETABLED = "http://xapi.jisc.ac.uk/event_timetabled"
NON_TIMETABLED = "http://xapi.jisc.ac.uk/event_non-timetabled"
COURSE_TYPES = frozenset({
    "http://id.tincanapi.com/activitytype/lms/course",
    "http://adlnet.gov/expapi/activities/course",
    "http://adlnet.gov/expapi/activities/module",
    "http://id.tincanapi.com/activitytype/lms/module",
})
JISC = ("http://xapi.jisc.ac.uk/", "https://xapi.jisc.ac.uk/")
NAMESPACE = uuid.UUID("6f0c3f53-8a83-4f43-9e5e-5a4d1c3b2a10")
MAX_MODULE = 32
MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class IgnoredStatement:
    verb: str
    reason: str


Mapped = dict[str, Any] | IgnoredStatement


class MalformedStatement(Exception):
    """A member has the wrong JSON type; `map_statement` answers it as a schema_violation."""


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "an array", str: "a string", int: "a number",
             float: "a number"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), "null")


def _path(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key


def _object(parent: Mapping[str, Any], key: str, at: str = "") -> Mapping[str, Any]:
    """The member as an object; absent or null is an empty one."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedStatement(f"{_path(at, key)}: must be an object, not {_json_type(value)}")
    return value


def _string(parent: Mapping[str, Any], key: str, at: str = "") -> str | None:
    value = parent.get(key)
    if value is None or isinstance(value, str):
        return value
    raise MalformedStatement(f"{_path(at, key)}: must be a string, not {_json_type(value)}")


Located = tuple[Mapping[str, Any], str]


def _activities(parent: Mapping[str, Any], key: str, at: str) -> list[Located]:
    """A contextActivities entry, each activity with its path; the xAPI specification allows
    a single activity object where an array is usual."""
    value, path = parent.get(key), _path(at, key)
    if value is None:
        return []
    if isinstance(value, dict):
        return [(value, path)]
    if not isinstance(value, list):
        raise MalformedStatement(
            f"{path}: must be an array of activities, not {_json_type(value)}")
    for index, activity in enumerate(value):
        if not isinstance(activity, dict):
            raise MalformedStatement(
                f"{path}[{index}]: an activity must be an object, not {_json_type(activity)}")
    return [(activity, f"{path}[{index}]") for index, activity in enumerate(value)]


def _jisc(extensions: Mapping[str, Any], name: str) -> Any:
    for prefix in JISC:
        if prefix + name in extensions:
            return extensions[prefix + name]
    return None


def _first_text(language_map: Any) -> str | None:
    if isinstance(language_map, Mapping) and language_map:
        value = next(iter(language_map.values()))
        return value if isinstance(value, str) else None
    return None


def _module_code(code: Any) -> str | None:
    return code if isinstance(code, str) and 0 < len(code) <= MAX_MODULE else None


def _course_area_module(context: Mapping[str, Any]) -> str | None:
    area = _jisc(_object(context, "extensions", "context"), "courseArea")
    if not isinstance(area, Mapping):
        return None
    for key in ("vle_mod_id", "uddModInstanceID", "uddModInstanceId"):
        if code := _module_code(_jisc(area, key)):
            return code
    return None


def _course_module(activity: Mapping[str, Any], at: str) -> str | None:
    definition = _object(activity, "definition", at)
    if _string(definition, "type", f"{at}.definition") not in COURSE_TYPES:
        return None
    extensions = _object(definition, "extensions", f"{at}.definition")
    return _module_code(_jisc(extensions, "vle_mod_id") or _first_text(definition.get("name")))


def _module(statement: Mapping[str, Any]) -> str | None:
    """The module code: the Jisc courseArea extension, else the parent or grouping course."""
    context = _object(statement, "context")
    if code := _course_area_module(context):
        return code
    activities = _object(context, "contextActivities", "context")
    for group in ("parent", "grouping"):
        for activity, path in _activities(activities, group, "context.contextActivities"):
            if code := _course_module(activity, path):
                return code
    return None


def _viewed(statement: Mapping[str, Any]) -> Mapped:
    page = (_string(_object(statement, "object"), "id", "object") or "")[:512] or None
    return {"type": "vle.click", "module": _module(statement), "page": page}


def _attendance_status(result: Mapping[str, Any], attended: bool) -> str:
    extensions = _object(result, "extensions", "result")
    category = _jisc(extensions, "attendance_category")
    if not attended:
        words = category.lower() if isinstance(category, str) else ""
        excused = any(word in words for word in ("authori", "excus", "condon"))
        return "authorised_absence" if excused else "absent"
    return "late" if _jisc(extensions, "attendance_late") in ("1", 1) else "present"


def _attended(statement: Mapping[str, Any]) -> Mapped:
    target = _object(statement, "object")
    kind = _string(_object(target, "definition", "object"), "type", "object.definition")
    result = _object(statement, "result")
    attended = result.get("completion", True) is not False
    reference = (_string(target, "id", "object") or "")[:128]
    if kind == NON_TIMETABLED or (kind != TIMETABLED and "event" in (kind or "")):
        if not attended:
            return IgnoredStatement(ATTENDED, "non-attendance at an untimetabled event")
        return {"type": "event.checkin", "event_ref": reference}
    if kind != TIMETABLED:
        return IgnoredStatement(ATTENDED, f"attended an activity of type {kind!r}")
    return {"type": "attendance.swipe", "session_id": reference,
            "status": _attendance_status(result, attended)}


MAPPING: dict[str, Callable[[Mapping[str, Any]], Mapped]] = {
    VIEWED: _viewed,
    EXPERIENCED: _viewed,
    ACCESSED: _viewed,
    ATTENDED: _attended,
}


def _student_id(statement: Mapping[str, Any]) -> str | None:
    actor = _object(statement, "actor")
    name = _string(_object(actor, "account", "actor"), "name", "actor.account")
    if name:
        return name
    mbox = _string(actor, "mbox", "actor") or ""
    return mbox.removeprefix("mailto:").split("@")[0] or None


def _statement_id(statement: Mapping[str, Any]) -> str:
    """The statement's id, else one derived from its content, so a resend keeps it."""
    if given := _string(statement, "id"):
        return given
    try:
        content = json.dumps(statement, sort_keys=True, separators=(",", ":"))
    except RecursionError:
        raise MalformedStatement("statement: nested too deeply to derive an id") from None
    return str(uuid.uuid5(NAMESPACE, content))


def _to_event(statement: Mapping[str, Any], mapped: dict[str, Any], tenant: str
              ) -> Event | Rejection:
    student_id = _student_id(statement)
    if student_id is None:
        return Rejection(DeadLetterReason.SCHEMA_VIOLATION,
                         "actor: needs account.name or mbox to identify the student")
    event = {
        "event_id": _statement_id(statement),
        "tenant": tenant,
        "student_id": student_id,
        "occurred_at": statement.get("timestamp") or statement.get("stored"),
        "source": "xapi",
        **mapped,
    }
    try:
        return EVENT_ADAPTER.validate_python(event)
    except ValidationError as error:
        detail = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'][1:])}: {e['msg']}" for e in error.errors())
        return Rejection(DeadLetterReason.SCHEMA_VIOLATION, detail[:MAX_DETAIL])


def _map(statement: Mapping[str, Any], tenant: str) -> Event | IgnoredStatement | Rejection:
    verb = _string(_object(statement, "verb"), "id", "verb") or ""
    handler = MAPPING.get(verb)
    if handler is None:
        return IgnoredStatement(verb or "(none)", "no mapping for this verb")
    mapped = handler(statement)
    if isinstance(mapped, IgnoredStatement):
        return mapped
    return _to_event(statement, mapped, tenant)


def map_statement(statement: Any, *, tenant: str) -> Event | IgnoredStatement | Rejection:
    """Total over JSON values: an event, an ignored verb, or a rejection saying what is wrong."""
    if not isinstance(statement, dict):
        return Rejection(DeadLetterReason.SCHEMA_VIOLATION, "a statement must be a JSON object")
    try:
        return _map(statement, tenant)
    except MalformedStatement as error:
        return Rejection(DeadLetterReason.SCHEMA_VIOLATION, str(error)[:MAX_DETAIL])
