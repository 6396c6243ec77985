"""Consent policy (SPEC "Consent"): whether engagement activity may be processed.

The state is only the latest consent event seen, so the result of folding a student's consent
events does not depend on the order they arrive in: the latest `occurred_at` wins, and of two
events at the same instant the refusal wins (when in doubt, do not process).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ConsentMode(StrEnum):
    OPT_IN = "opt_in"  # nothing processed until the student grants consent
    NOTICE = "notice"  # processed by default until the student opts out


class ConsentTransition(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"  # the caller must delete the student's engagement data
    UNCHANGED = "unchanged"
    STALE = "stale"  # older than the event in force: kept as a record, state untouched


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The consent event in force; `granted` None means no consent event has been seen."""

    granted: bool | None = None
    changed_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "granted": self.granted,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ConsentState:
        changed = raw.get("changed_at")
        return cls(raw.get("granted"), datetime.fromisoformat(changed) if changed else None)


def effective(mode: ConsentMode, state: ConsentState) -> bool:
    """Whether consent is in effect: the student's own choice, else the tenant's default."""
    return state.granted if state.granted is not None else mode is ConsentMode.NOTICE


def allows(mode: ConsentMode, state: ConsentState, at: datetime) -> bool:
    """Whether activity that occurred at `at` may be processed.

    Consent must be in effect, and the activity must not be older than the consent event in
    force: after a grant, processing starts from the grant on. Because only the latest event is
    kept, an explicit grant (even a repeated one, or one in notice mode) also starts from itself.
    """
    if not effective(mode, state):
        return False
    return state.changed_at is None or at >= state.changed_at


def _supersedes(state: ConsentState, granted: bool, at: datetime) -> bool:
    if state.changed_at is None:
        return True
    if at != state.changed_at:
        return at > state.changed_at
    # Same instant: a refusal beats a grant whatever order they arrive in.
    return not granted


def apply_change(mode: ConsentMode, state: ConsentState, granted: bool, at: datetime
                 ) -> tuple[ConsentState, ConsentTransition]:
    """Fold one `consent.changed` event into the state.

    `WITHDRAWN` whenever processing goes from allowed (by a grant or by the notice default) to
    not allowed; a refusal in opt-in mode without an earlier grant is `UNCHANGED` but is still
    recorded, so an older grant arriving late cannot override it.
    """
    if at == state.changed_at and granted == state.granted:
        return state, ConsentTransition.UNCHANGED  # the same event again
    if not _supersedes(state, granted, at):
        return state, ConsentTransition.STALE
    before = effective(mode, state)
    new_state = ConsentState(granted, at)
    if before and not granted:
        return new_state, ConsentTransition.WITHDRAWN
    if not before and granted:
        return new_state, ConsentTransition.GRANTED
    return new_state, ConsentTransition.UNCHANGED
