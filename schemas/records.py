"""Records the engine derives and publishes on its output topics."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.decode import DeadLetterReason, Rejection

AlertStatus = Literal["pending_review", "acknowledged", "contacted", "referred", "dismissed"]
# "none": the Kafka message had no value at all (a tombstone), which is not an empty value.
Encoding = Literal["utf-8", "base64", "none"]


class ScoreUpdate(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    student_id: str
    date: date
    college: str | None
    daily_score: float
    score_7d: float
    band: str | None
    computed_at: datetime


class ReviewAlert(BaseModel):
    model_config = ConfigDict(frozen=True)

    alert_id: str
    tenant: str
    student_id: str
    tutor_id: str | None
    rule: str
    day: date
    evidence: dict[str, float | int | str | None]
    status: AlertStatus
    created_at: datetime


def _exact_text(raw: bytes | None) -> tuple[str, Encoding]:
    if raw is None:
        return "", "none"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


class DeadLetterRecord(BaseModel):
    """What the worker could not accept, with the exact original bytes and the reason."""

    model_config = ConfigDict(frozen=True)

    original: str
    original_encoding: Encoding
    key: str | None
    key_encoding: Encoding
    topic: str
    partition: int | None
    offset: int | None
    reason: DeadLetterReason
    detail: str
    dead_lettered_at: datetime
    # The topic copy of a very large original is cut to fit a Kafka message; the
    # `dead_letters` table always keeps it whole.
    original_truncated: bool = False

    @classmethod
    def from_raw(cls, value: bytes | None, key: bytes | None, topic: str,
                 partition: int | None, offset: int | None, rejection: Rejection,
                 at: datetime) -> DeadLetterRecord:
        original, original_encoding = _exact_text(value)
        key_text, key_encoding = _exact_text(key) if key is not None else (None, "utf-8")
        return cls(
            original=original, original_encoding=original_encoding, key=key_text,
            key_encoding=key_encoding, topic=topic, partition=partition, offset=offset,
            reason=rejection.reason, detail=rejection.detail, dead_lettered_at=at,
        )

    def original_bytes(self) -> bytes:
        if self.original_encoding == "base64":
            return base64.b64decode(self.original)
        return self.original.encode("utf-8")

    def as_message(self, max_bytes: int) -> bytes:
        """The record as JSON for the dead-letter topic, its original cut so that the whole
        message stays within `max_bytes`."""
        whole = self.model_dump_json().encode()
        if len(whole) <= max_bytes:
            return whole
        # JSON escaping makes a character cost 1 to 6 bytes, so search for the longest prefix.
        step = 4 if self.original_encoding == "base64" else 1  # base64 still decodes
        low, high = 0, len(self.original) // step
        best = self._cut(0)
        while low <= high:
            middle = (low + high) // 2
            message = self._cut(middle * step)
            if len(message) <= max_bytes:
                best, low = message, middle + 1
            else:
                high = middle - 1
        return best

    def _cut(self, keep: int) -> bytes:
        return self.model_copy(
            update={"original": self.original[:keep], "original_truncated": True}
        ).model_dump_json().encode()
