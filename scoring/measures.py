"""Engagement activity and the daily measures built from it (SPEC "Measures")."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from scoring.timebase import MINUTE_MS


class Kind(StrEnum):
    CLICK = "click"
    APP = "app"
    CHECKIN = "checkin"


# The event types that are scored activity; `event.registered` is engagement data (consent
# applies, it is stored) but never counts.
KIND_OF_EVENT_TYPE: dict[str, Kind] = {
    "vle.click": Kind.CLICK,
    "app.menu_choice": Kind.APP,
    "event.checkin": Kind.CHECKIN,
}


@dataclass(frozen=True, slots=True)
class Activity:
    """One engagement event: a VLE click, an app menu choice or an event check-in."""

    event_id: str
    kind: Kind
    at_ms: int
    module: str | None = None

    def order_key(self) -> tuple[int, str]:
        return (self.at_ms, self.event_id)

    def to_list(self) -> list[Any]:
        return [self.event_id, self.kind.value, self.at_ms, self.module]

    @classmethod
    def from_list(cls, raw: list[Any]) -> Activity:
        return cls(raw[0], Kind(raw[1]), int(raw[2]), raw[3])


@dataclass(slots=True)
class DayTotals:
    """One student's measures for one local day, VLE time in exact milliseconds."""

    module_ms: dict[str, int] = field(default_factory=dict)
    no_module_ms: int = 0
    app_choices: int = 0
    event_checkins: int = 0

    def copy(self) -> DayTotals:
        return DayTotals(
            dict(self.module_ms), self.no_module_ms, self.app_choices, self.event_checkins
        )

    def credit_minutes(self, module: str | None, ms: int) -> None:
        if module is None:
            self.no_module_ms += ms
        else:
            self.module_ms[module] = self.module_ms.get(module, 0) + ms

    @property
    def ele_minutes(self) -> float:
        return sum(self.module_ms.values()) / MINUTE_MS

    @property
    def no_module_minutes(self) -> float:
        return self.no_module_ms / MINUTE_MS

    def minutes_by_module(self) -> dict[str, float]:
        return {module: ms / MINUTE_MS for module, ms in sorted(self.module_ms.items())}

    def is_empty(self) -> bool:
        return not (self.module_ms or self.no_module_ms or self.app_choices or self.event_checkins)

    def to_list(self) -> list[Any]:
        return [dict(self.module_ms), self.no_module_ms, self.app_choices, self.event_checkins]

    @classmethod
    def from_list(cls, raw: list[Any]) -> DayTotals:
        return cls(dict(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]))
