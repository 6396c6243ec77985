"""Consent policy (SPEC "Consent"): whether engagement activity may be processed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ConsentMode(StrEnum):
    OPT_IN = "opt_in"
    NOTICE = "notice"


class ConsentTransition(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    UNCHANGED = "unchanged"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The latest consent event seen; `granted` None means none has been seen."""

    granted: bool | None = None
    changed_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "granted": self.granted,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ConsentState:
        changed = raw.get("changed_at")
        return cls(raw.get("granted"), datetime.fromisoformat(changed) if changed else None)


def effective(mode: ConsentMode, state: ConsentState) -> bool:
    return state.granted if state.granted is not None else mode is ConsentMode.NOTICE


def allows(mode: ConsentMode, state: ConsentState, at: datetime) -> bool:
    """Processing is allowed for activity at `at` when consent is in effect and the activity
    is not older than the change that put it in effect: a later grant starts from the grant."""
    if not effective(mode, state):
        return False
    return state.changed_at is None or at >= state.changed_at


def apply_change(mode: ConsentMode, state: ConsentState, granted: bool, at: datetime
                 ) -> tuple[ConsentState, ConsentTransition]:
    """Fold one consent event in; the latest `occurred_at` wins."""
    if state.changed_at is not None and at < state.changed_at:
        return state, ConsentTransition.STALE
    before = effective(mode, state)
    new_state = ConsentState(granted, at)
    if before and not granted:
        return new_state, ConsentTransition.WITHDRAWN
    if not before and granted:
        return new_state, ConsentTransition.GRANTED
    return new_state, ConsentTransition.UNCHANGED
