"""The wire contract: one pydantic model per event type, one union discriminated on `type`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    field_validator,
    model_validator,
)

EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f]+$")]
Tenant = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
StudentId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
ShortText = Annotated[str, Field(min_length=1, max_length=128)]
# A calendar date and a time of day; the zone is checked by `AwareDatetime`. Without this,
# pydantic would also read numbers of seconds since 1970, which the contract does not allow.
ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
MAX_ROSTER_EXTRA_FIELDS = 32


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    event_id: EventId
    tenant: Tenant
    student_id: StudentId
    occurred_at: AwareDatetime
    source: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _iso_8601(cls, value: Any) -> Any:
        if isinstance(value, datetime) or (isinstance(value, str) and ISO_DATE_TIME.match(value)):
            return value
        raise ValueError("must be an ISO-8601 date and time with a zone, "
                         "e.g. 2026-11-24T10:00:00Z")

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def key(self) -> str:
        """The Kafka message key: one student's events share a partition."""
        return f"{self.tenant}:{self.student_id}"

    # What an engagement event shows in a student's activity list. Methods, not `getattr` with
    # a default: a pydantic model asked for a field it lacks raises and catches an exception,
    # forty times the cost of a hit, and this runs for every event.
    def activity_module(self) -> str | None:
        return None

    def activity_detail(self) -> str:
        return ""


class VleClick(_Event):
    type: Literal["vle.click"]
    module: Annotated[str, Field(min_length=1, max_length=32)] | None
    page: Annotated[str, Field(max_length=512)] | None = None

    def activity_module(self) -> str | None:
        return self.module

    def activity_detail(self) -> str:
        return self.page or ""


class AppMenuChoice(_Event):
    type: Literal["app.menu_choice"]
    menu_item: ShortText

    def activity_detail(self) -> str:
        return self.menu_item


class AttendanceStatus(StrEnum):
    PRESENT = "present"
    LATE = "late"
    ABSENT = "absent"
    AUTHORISED_ABSENCE = "authorised_absence"


class AttendanceSwipe(_Event):
    type: Literal["attendance.swipe"]
    session_id: ShortText
    status: AttendanceStatus = AttendanceStatus.PRESENT


class EventCheckin(_Event):
    type: Literal["event.checkin"]
    event_ref: ShortText

    def activity_detail(self) -> str:
        return self.event_ref


class EventRegistered(_Event):
    type: Literal["event.registered"]
    event_ref: ShortText

    def activity_detail(self) -> str:
        return self.event_ref


class RosterStudent(_Event):
    """Who the student is; the latest wins. Extra fields are kept here only so the stream can
    drop them by policy and count them (special category data is never stored)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: Literal["roster.student"]
    college: Annotated[str, Field(min_length=1, max_length=32)]
    programme: Annotated[str, Field(max_length=128)] | None = None
    year_group: Annotated[str, Field(max_length=16)] | None = None
    tutor_id: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("year_group", mode="before")
    @classmethod
    def _year_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _few_extra_fields(self) -> RosterStudent:
        if len(self.model_extra or {}) > MAX_ROSTER_EXTRA_FIELDS:
            raise ValueError(f"at most {MAX_ROSTER_EXTRA_FIELDS} fields beyond the documented "
                             "ones (they are dropped by policy, never stored)")
        return self


class ConsentChanged(_Event):
    type: Literal["consent.changed"]
    granted: StrictBool


class Decision(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    CONTACTED = "contacted"
    REFERRED = "referred"
    DISMISSED = "dismissed"
    EXEMPTED = "exempted"


class ReviewDecision(_Event):
    type: Literal["review.decision"]
    decision: Decision
    alert_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    tutor_id: Annotated[str, Field(min_length=1, max_length=64)]
    note: Annotated[str, Field(max_length=2000)] | None = None
    exempt_until: date | None = None

    @model_validator(mode="after")
    def _decision_fields(self) -> ReviewDecision:
        if self.decision is Decision.EXEMPTED:
            if self.exempt_until is None:
                raise ValueError("an 'exempted' decision needs exempt_until")
        else:
            if self.alert_id is None:
                raise ValueError(f"a {self.decision.value!r} decision needs alert_id")
            if self.exempt_until is not None:
                raise ValueError("exempt_until belongs to 'exempted' decisions only")
        return self


Event = Annotated[
    VleClick
    | AppMenuChoice
    | AttendanceSwipe
    | EventCheckin
    | EventRegistered
    | RosterStudent
    | ConsentChanged
    | ReviewDecision,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_MODELS: dict[str, type[_Event]] = {
    "vle.click": VleClick,
    "app.menu_choice": AppMenuChoice,
    "attendance.swipe": AttendanceSwipe,
    "event.checkin": EventCheckin,
    "event.registered": EventRegistered,
    "roster.student": RosterStudent,
    "consent.changed": ConsentChanged,
    "review.decision": ReviewDecision,
}
