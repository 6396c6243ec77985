"""xAPI statements (as a VLE plugin or a learning records warehouse sends them) to events.

The mapping table below follows the ADL xAPI specification's statement structure (actor,
verb, object, result, context, timestamp) and the Jisc learning analytics xAPI recipes
("VLE viewed", "attended learning event"); `docs/xapi-mapping.md` documents it.
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


@dataclass(frozen=True, slots=True)
class IgnoredStatement:
    verb: str
    reason: str


Mapped = dict[str, Any] | IgnoredStatement


def _jisc(extensions: Mapping[str, Any] | None, name: str) -> Any:
    if not extensions:
        return None
    for prefix in JISC:
        if prefix + name in extensions:
            return extensions[prefix + name]
    return None


def _first_text(language_map: Any) -> str | None:
    if isinstance(language_map, Mapping) and language_map:
        value = next(iter(language_map.values()))
        return value if isinstance(value, str) else None
    return None


def _module(statement: Mapping[str, Any]) -> str | None:
    """The module code: the Jisc courseArea extension, else the parent or grouping course."""
    context = statement.get("context") or {}
    area = _jisc(context.get("extensions"), "courseArea") or {}
    for key in ("vle_mod_id", "uddModInstanceID", "uddModInstanceId"):
        code = _jisc(area, key) if isinstance(area, Mapping) else None
        if isinstance(code, str) and 0 < len(code) <= MAX_MODULE:
            return code
    activities = context.get("contextActivities") or {}
    for group in ("parent", "grouping"):
        for activity in activities.get(group) or []:
            definition = activity.get("definition") or {}
            if definition.get("type") not in COURSE_TYPES:
                continue
            code = _jisc(definition.get("extensions"), "vle_mod_id") or _first_text(
                definition.get("name"))
            if isinstance(code, str) and 0 < len(code) <= MAX_MODULE:
                return code
    return None


def _viewed(statement: Mapping[str, Any]) -> Mapped:
    page = str((statement.get("object") or {}).get("id", ""))[:512] or None
    return {"type": "vle.click", "module": _module(statement), "page": page}


def _attended(statement: Mapping[str, Any]) -> Mapped:
    target = statement.get("object") or {}
    definition = target.get("definition") or {}
    kind = definition.get("type")
    result = statement.get("result") or {}
    attended = result.get("completion", True) is not False
    reference = str(target.get("id", ""))[:128]
    if kind == NON_TIMETABLED or (kind != TIMETABLED and "event" in str(kind or "")):
        if not attended:
            return IgnoredStatement(ATTENDED, "non-attendance at an untimetabled event")
        return {"type": "event.checkin", "event_ref": reference}
    if kind != TIMETABLED:
        return IgnoredStatement(ATTENDED, f"attended an activity of type {kind!r}")
    extensions = result.get("extensions") or {}
    category = str(_jisc(extensions, "attendance_category") or "").lower()
    if not attended:
        excused = any(word in category for word in ("authori", "excus", "condon"))
        status = "authorised_absence" if excused else "absent"
    elif str(_jisc(extensions, "attendance_late") or "0") == "1":
        status = "late"
    else:
        status = "present"
    return {"type": "attendance.swipe", "session_id": reference, "status": status}


MAPPING: dict[str, Callable[[Mapping[str, Any]], Mapped]] = {
    VIEWED: _viewed,
    EXPERIENCED: _viewed,
    ACCESSED: _viewed,
    ATTENDED: _attended,
}


def _student_id(actor: Mapping[str, Any]) -> str | None:
    account = actor.get("account") or {}
    if account.get("name"):
        return str(account["name"])
    mbox = str(actor.get("mbox", ""))
    return mbox.removeprefix("mailto:").split("@")[0] or None


def map_statement(statement: Mapping[str, Any], *, tenant: str
                  ) -> Event | IgnoredStatement | Rejection:
    verb = str((statement.get("verb") or {}).get("id", ""))
    handler = MAPPING.get(verb)
    if handler is None:
        return IgnoredStatement(verb or "(none)", "no mapping for this verb")
    mapped = handler(statement)
    if isinstance(mapped, IgnoredStatement):
        return mapped
    student_id = _student_id(statement.get("actor") or {})
    if student_id is None:
        return Rejection(DeadLetterReason.SCHEMA_VIOLATION,
                         "actor: needs account.name or mbox to identify the student")
    statement_id = statement.get("id") or str(
        uuid.uuid5(NAMESPACE, json.dumps(statement, sort_keys=True, separators=(",", ":"))))
    event = {
        "event_id": str(statement_id),
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
        return Rejection(DeadLetterReason.SCHEMA_VIOLATION, detail[:500])
