"""Each event type accepts its example and rejects bad input with a clear message."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.decode import (
    DeadLetterReason,
    Rejection,
    check_envelope,
    decode_event,
    parse_event,
    parse_event_object,
)
from schemas.events import RosterStudent
from schemas.examples import EXAMPLES
from schemas.jsonschema import write_json_schemas
from schemas.records import DeadLetterRecord
from schemas.topics import INPUT_TOPICS, TOPIC_FOR_TYPE

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def reject(event: dict[str, Any] | bytes) -> Rejection:
    result = parse_event(event if isinstance(event, bytes) else raw(event), now=NOW)
    assert isinstance(result, Rejection), result
    return result


def changed(event_type: str, **fields: Any) -> dict[str, Any]:
    event = dict(EXAMPLES[event_type])
    for name, value in fields.items():
        if value is ...:
            event.pop(name)
        else:
            event[name] = value
    return event


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_every_example_is_accepted_and_routed(event_type: str) -> None:
    example = EXAMPLES[event_type]
    event = parse_event(raw(example), now=NOW)
    assert not isinstance(event, Rejection), event
    assert event.type == event_type
    assert event.occurred_at.tzinfo == UTC
    assert TOPIC_FOR_TYPE[event_type] in INPUT_TOPICS
    key = f"{example['tenant']}:{example['student_id']}".encode()
    assert check_envelope(event, topic=TOPIC_FOR_TYPE[event_type], key=key) is None


def test_times_are_stored_in_utc() -> None:
    event = parse_event(raw(EXAMPLES["app.menu_choice"]), now=NOW)
    assert not isinstance(event, Rejection)
    assert event.occurred_at == datetime(2026, 10, 6, 11, 15, 9, tzinfo=UTC)


@pytest.mark.parametrize(("event", "field"), [
    (changed("vle.click", occurred_at="2026-10-06T10:03:00"), "occurred_at"),
    (changed("vle.click", occurred_at=...), "occurred_at"),
    (changed("vle.click", occurred_at=1791000000), "occurred_at"),
    (changed("vle.click", occurred_at="1791000000"), "occurred_at"),
    (changed("vle.click", occurred_at="2026-10-06"), "occurred_at"),
    (changed("roster.student", **{f"extra_{n}": "x" for n in range(33)}), "fields beyond"),
    (changed("vle.click", module="X" * 33), "module"),
    (changed("vle.click", module=...), "module"),
    (changed("vle.click", student_id="s 1"), "student_id"),
    (changed("vle.click", student_id="a:b"), "student_id"),
    (changed("vle.click", tenant="Demo University"), "tenant"),
    (changed("vle.click", event_id=""), "event_id"),
    (changed("vle.click", surprise=1), "surprise"),
    (changed("app.menu_choice", menu_item="x" * 129), "menu_item"),
    (changed("attendance.swipe", status="asleep"), "status"),
    (changed("consent.changed", granted="yes"), "granted"),
    (changed("review.decision", alert_id=...), "alert_id"),
    (changed("review.decision", decision="exempted", alert_id=...), "exempt_until"),
    (changed("roster.student", college=""), "college"),
])
def test_schema_violations_name_the_field(event: dict[str, Any], field: str) -> None:
    rejection = reject(event)
    assert rejection.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert field in rejection.detail


def test_unknown_and_missing_types() -> None:
    unknown = reject(changed("vle.click", type="vle.scroll"))
    missing = reject(changed("vle.click", type=...))
    assert (unknown.reason, missing.reason) == (DeadLetterReason.UNKNOWN_TYPE,) * 2
    assert "vle.scroll" in unknown.detail
    assert "type" in missing.detail


@pytest.mark.parametrize("payload", [b"{not json", b"", b"\xff\xfe", b"[1, 2"])
def test_not_json(payload: bytes) -> None:
    assert reject(payload).reason is DeadLetterReason.NOT_JSON


@pytest.mark.parametrize("payload", [b"[]", b"42", b'"text"'])
def test_json_that_is_not_an_object(payload: bytes) -> None:
    rejection = reject(payload)
    assert rejection.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert "object" in rejection.detail


def test_future_timestamps_up_to_24_hours_are_accepted() -> None:
    edge = changed("vle.click", occurred_at=(NOW + timedelta(hours=24)).isoformat())
    past = changed("vle.click", occurred_at=(NOW + timedelta(hours=24, seconds=1)).isoformat())
    assert not isinstance(parse_event(raw(edge), now=NOW), Rejection)
    assert reject(past).reason is DeadLetterReason.FUTURE_TIMESTAMP


def test_envelope_checks_topic_and_key() -> None:
    example = EXAMPLES["vle.click"]
    good_key = b"demo-university:s00042"
    wrong_topic = decode_event(raw(example), topic="engage.app.menu", key=good_key, now=NOW)
    no_key = decode_event(raw(example), topic="engage.vle.clicks", key=None, now=NOW)
    other = decode_event(raw(example), topic="engage.vle.clicks", key=b"demo-university:s1",
                         now=NOW)
    binary = decode_event(raw(example), topic="engage.vle.clicks", key=b"\xff", now=NOW)
    assert isinstance(wrong_topic, Rejection)
    assert wrong_topic.reason is DeadLetterReason.WRONG_TOPIC
    assert "engage.vle.clicks" in wrong_topic.detail
    for rejection in (no_key, other, binary):
        assert isinstance(rejection, Rejection)
        assert rejection.reason is DeadLetterReason.KEY_MISMATCH
        assert "demo-university:s00042" in rejection.detail


def test_roster_keeps_extra_fields_for_the_privacy_filter_to_drop() -> None:
    event = parse_event(raw(changed("roster.student", ethnicity="x", year_group=2)), now=NOW)
    assert isinstance(event, RosterStudent)
    assert event.model_extra == {"ethnicity": "x"}
    assert event.year_group == "2"


def test_parse_event_object_rejects_non_objects() -> None:
    result = parse_event_object([1], now=NOW)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.SCHEMA_VIOLATION


@given(st.binary(max_size=300))
def test_any_bytes_become_an_event_or_a_rejection(payload: bytes) -> None:
    result = decode_event(payload, topic="engage.vle.clicks", key=None, now=NOW)
    assert isinstance(result, Rejection)


@pytest.mark.parametrize("payload", [b"\xff\xfe\x00binary", "caf\u00e9 {".encode()])
def test_dead_letters_keep_the_exact_original_bytes(payload: bytes) -> None:
    rejection = reject(payload)
    letter = DeadLetterRecord.from_raw(payload, b"\xfe", "engage.vle.clicks", 3, 42,
                                       rejection, NOW)
    again = DeadLetterRecord.model_validate_json(letter.model_dump_json())
    assert again.original_bytes() == payload
    assert letter.original_encoding == ("base64" if payload.startswith(b"\xff") else "utf-8")
    assert base64.b64decode(letter.key or "") == b"\xfe"


def test_json_schemas_are_written_per_type(tmp_path: Path) -> None:
    written = write_json_schemas(tmp_path)
    assert {p.name for p in written} == {f"{t}.schema.json" for t in EXAMPLES} | {
        "event.schema.json"}
    for event_type, example in EXAMPLES.items():
        schema = json.loads((tmp_path / f"{event_type}.schema.json").read_text())
        assert set(schema["required"]) <= set(example)
        assert schema["additionalProperties"] is (event_type == "roster.student")


def test_a_tombstone_is_rejected_and_dead_lettered_as_having_no_value() -> None:
    rejection = decode_event(None, topic="engage.vle.clicks", key=b"uni-test:s1", now=NOW)
    assert isinstance(rejection, Rejection)
    assert rejection.reason is DeadLetterReason.NOT_JSON
    assert "tombstone" in rejection.detail
    letter = DeadLetterRecord.from_raw(None, b"uni-test:s1", "engage.vle.clicks", 0, 7,
                                       rejection, NOW)
    assert (letter.original, letter.original_encoding) == ("", "none")


def test_a_small_dead_letter_goes_to_the_topic_whole() -> None:
    letter = DeadLetterRecord.from_raw(b"{oops", None, "engage.vle.clicks", 0, 1,
                                       reject(b"{oops"), NOW)
    assert letter.as_message(4096) == letter.model_dump_json().encode()


@pytest.mark.parametrize("payload", [
    bytes(range(256)) * 3200,            # not UTF-8: base64 makes it a third larger
    ('"\n\x01' * 200_000).encode(),      # UTF-8 that JSON escaping makes larger
])
def test_a_huge_dead_letter_is_cut_to_fit_a_kafka_message(payload: bytes) -> None:
    limit = 512 * 1024
    letter = DeadLetterRecord.from_raw(payload, None, "engage.vle.clicks", 0, 1,
                                       reject(payload), NOW)
    message = letter.as_message(limit)
    assert len(message) <= limit
    cut = DeadLetterRecord.model_validate_json(message)
    assert cut.original_truncated
    assert len(cut.original) > limit // 8, "the cut keeps a useful part of the original"
    assert payload.startswith(cut.original_bytes())


def test_the_published_json_schemas_are_the_current_contract(tmp_path: Path) -> None:
    """`schemas/json/` is what the README links; `engage schema --out schemas/json` renews it."""
    published = Path(__file__).resolve().parents[3] / "schemas" / "json"
    written = write_json_schemas(tmp_path)
    assert sorted(p.name for p in published.iterdir()) == sorted(p.name for p in written)
    for path in written:
        assert (published / path.name).read_text() == path.read_text(), path.name
