"""Raw bytes to events. Bad input is data: a `Rejection` with its reason, never an exception."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, Event
from schemas.topics import TOPIC_FOR_TYPE

MAX_DETAIL = 500


class DeadLetterReason(StrEnum):
    NOT_JSON = "not_json"
    SCHEMA_VIOLATION = "schema_violation"
    UNKNOWN_TYPE = "unknown_type"
    WRONG_TOPIC = "wrong_topic"
    KEY_MISMATCH = "key_mismatch"
    FUTURE_TIMESTAMP = "future_timestamp"
    UNKNOWN_TENANT = "unknown_tenant"
    PROCESSING_FAILED = "processing_failed"
    # A review decision naming an alert its tenant does not have, or another student's.
    ALERT_NOT_FOUND = "alert_not_found"
    ALERT_STUDENT_MISMATCH = "alert_student_mismatch"
    # Answered by the HTTP gateway only; such events never reach Kafka.
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"  # a gateway token sending an event type it does not name


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: DeadLetterReason
    detail: str


def _describe(error: ValidationError) -> Rejection:
    problems = error.errors(include_url=False)
    kinds = {p["type"] for p in problems}
    if "json_invalid" in kinds or "json_type" in kinds:
        return Rejection(DeadLetterReason.NOT_JSON, f"not JSON: {problems[0]['msg']}")
    if "union_tag_not_found" in kinds:
        return Rejection(DeadLetterReason.UNKNOWN_TYPE, "'type' is missing")
    if "union_tag_invalid" in kinds:
        tag = next(p for p in problems if p["type"] == "union_tag_invalid")
        found = tag.get("ctx", {}).get("tag", "?")
        return Rejection(DeadLetterReason.UNKNOWN_TYPE, f"unknown type {found!r}")
    parts = []
    for problem in problems:
        location = ".".join(str(x) for x in problem["loc"][1:] or problem["loc"]) or "event"
        parts.append(f"{location}: {problem['msg']}")
    return Rejection(DeadLetterReason.SCHEMA_VIOLATION, "; ".join(parts)[:MAX_DETAIL])


def not_in_future(event: Event, now: datetime, max_future: timedelta) -> Event | Rejection:
    if event.occurred_at > now + max_future:
        return Rejection(
            DeadLetterReason.FUTURE_TIMESTAMP,
            f"occurred_at {event.occurred_at.isoformat()} is more than "
            f"{max_future.total_seconds() / 3600:g} h after {now.isoformat()}",
        )
    return event


def parse_event(value: bytes | str, *, now: datetime,
                max_future: timedelta = timedelta(hours=24)) -> Event | Rejection:
    try:
        event = EVENT_ADAPTER.validate_json(value)
    except ValidationError as error:
        rejection = _describe(error)
        if rejection.reason is DeadLetterReason.SCHEMA_VIOLATION and not _is_object(value):
            return Rejection(DeadLetterReason.SCHEMA_VIOLATION, "an event must be a JSON object")
        return rejection
    return not_in_future(event, now, max_future)


def _is_object(value: bytes | str) -> bool:
    head = value.lstrip()[:1]
    return head in ("{", b"{")


def parse_event_object(obj: Any, *, now: datetime,
                       max_future: timedelta = timedelta(hours=24)) -> Event | Rejection:
    if not isinstance(obj, dict):
        return Rejection(DeadLetterReason.SCHEMA_VIOLATION, "an event must be a JSON object")
    try:
        event = EVENT_ADAPTER.validate_python(obj)
    except ValidationError as error:
        return _describe(error)
    return not_in_future(event, now, max_future)


def check_envelope(event: Event, *, topic: str, key: bytes | None) -> Rejection | None:
    expected_topic = TOPIC_FOR_TYPE[event.type]
    if expected_topic != topic:
        return Rejection(DeadLetterReason.WRONG_TOPIC,
                         f"{event.type} belongs on {expected_topic}, not {topic}")
    expected_key = event.key()
    if key is None:
        return Rejection(DeadLetterReason.KEY_MISMATCH,
                         f"message has no key; expected {expected_key!r}")
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection(DeadLetterReason.KEY_MISMATCH,
                         f"key is not UTF-8; expected {expected_key!r}")
    if text != expected_key:
        return Rejection(DeadLetterReason.KEY_MISMATCH,
                         f"key {text!r} does not match tenant and student {expected_key!r}")
    return None


def decode_event(value: bytes | None, *, topic: str, key: bytes | None, now: datetime,
                 max_future: timedelta = timedelta(hours=24)) -> Event | Rejection:
    if value is None:
        return Rejection(DeadLetterReason.NOT_JSON,
                         "the message has no value (a tombstone); an event is a JSON object")
    parsed = parse_event(value, now=now, max_future=max_future)
    if isinstance(parsed, Rejection):
        return parsed
    return check_envelope(parsed, topic=topic, key=key) or parsed
