"""The engine's door: a raw record becomes an event, or a dead letter with the reason.

One validation (`schemas.decode`), then the tenant check. What cannot be accepted is written
to `dead_letters` and sent on the dead-letter topic, with the exact original, except for a
roster event's fields the roster policy drops: special category data is never stored, not
even in a dead letter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import datetime, timedelta

from schemas.decode import DeadLetterReason, Rejection, decode_event
from schemas.events import Event
from schemas.records import DeadLetterRecord
from schemas.topics import DEADLETTER, ROSTER
from scoring.roster_policy import drop_reason, filter_roster_fields
from sinks.protocols import RowSink
from sinks.rows import DeadLettersRow
from streams.engine.contract import Counted, Counts, OutboundMessage, RawRecord

# Well inside the producer's and the broker's default limits of about 1 MB per message.
DEADLETTER_MESSAGE_MAX_BYTES = 512 * 1024


def event_hash(event_id: str) -> int:
    """What `unconsented_events` keeps of an event: enough to count it once, nothing more."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


def decode(record: RawRecord, tenants: Collection[str], now: datetime, max_future: timedelta
           ) -> Event | Rejection:
    result = decode_event(record.value, topic=record.topic, key=record.key, now=now,
                          max_future=max_future)
    if isinstance(result, Rejection) or result.tenant in tenants:
        return result
    return Rejection(DeadLetterReason.UNKNOWN_TENANT,
                     f"tenant {result.tenant!r} is not in the tenant configuration")


def count_dropped_roster_fields(fields: list[str], counts: Counts) -> None:
    for name in fields:
        counts.add(Counted.ROSTER_FIELD_DROPPED, drop_reason(name))


def dead_letter(record: RawRecord, rejection: Rejection, now: datetime, sink: RowSink,
                counts: Counts, messages: list[OutboundMessage]) -> None:
    value, dropped = _roster_fields_allowed(record)
    count_dropped_roster_fields(dropped, counts)
    if dropped:
        rejection = Rejection(rejection.reason, rejection.detail + "; fields outside the "
                              f"roster allow-list removed before storing: {', '.join(dropped)}")
    letter = DeadLetterRecord.from_raw(value, record.key, record.topic, record.partition,
                                       record.offset, rejection, now)
    sink.add(DeadLettersRow(
        letter.topic, letter.partition if letter.partition is not None else -1,
        letter.offset if letter.offset is not None else -1, letter.key, letter.key_encoding,
        letter.original, letter.original_encoding, str(letter.reason), letter.detail,
        letter.dead_lettered_at,
    ))
    messages.append(
        OutboundMessage(DEADLETTER, record.key, letter.as_message(DEADLETTER_MESSAGE_MAX_BYTES)))
    counts.add(Counted.DEAD_LETTERED, str(rejection.reason))


def _roster_fields_allowed(record: RawRecord) -> tuple[bytes | None, list[str]]:
    """The value to keep of a roster event that cannot be accepted, and the fields dropped."""
    if record.value is None:
        return record.value, []
    try:
        payload = json.loads(record.value)
    except ValueError:
        return record.value, []
    if not isinstance(payload, dict) or (
            record.topic != ROSTER and payload.get("type") != "roster.student"):
        return record.value, []
    kept, dropped = filter_roster_fields(payload)
    if not dropped:
        return record.value, []
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode(), dropped
