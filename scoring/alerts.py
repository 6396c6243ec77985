"""The alert lifecycle per student: at most one open alert per rule, a cooldown after a
resolution, and an exemption a tutor grants until a date (placement, illness).

`AlertBook` is the whole lifecycle state; the stream snapshots it with `to_dict` and restores
it exactly with `from_dict`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from scoring.rules import RuleHit

# Rules computed from engagement activity: they need consent and go on withdrawal.
# `attendance` is the one rule that needs neither.
ENGAGEMENT_RULES = frozenset({"engagement_drop", "inactivity", "engagement_rise"})
# `acknowledged` means seen: the alert stays open. These close it and start the cooldown.
CLOSING_DECISIONS = frozenset({"contacted", "referred", "dismissed"})


@dataclass(frozen=True, slots=True)
class AlertBook:
    open: dict[str, tuple[str, date]] = field(default_factory=dict)  # rule -> (alert id, day)
    resolved: dict[str, date] = field(default_factory=dict)  # rule -> day of last resolution
    exempt_until: date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": {rule: [aid, d.isoformat()] for rule, (aid, d) in self.open.items()},
            "resolved": {rule: d.isoformat() for rule, d in self.resolved.items()},
            "exempt_until": self.exempt_until.isoformat() if self.exempt_until else None,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AlertBook:
        until = raw.get("exempt_until")
        return cls(
            open={rule: (aid, date.fromisoformat(day))
                  for rule, (aid, day) in raw.get("open", {}).items()},
            resolved={rule: date.fromisoformat(day)
                      for rule, day in raw.get("resolved", {}).items()},
            exempt_until=date.fromisoformat(until) if until else None,
        )


def alert_id_for(tenant: str, student_id: str, rule: str, day: date) -> str:
    """The same student, rule and day always give the same id, so a replay raises the same
    alert instead of a second one."""
    digest = hashlib.sha256(f"{tenant}|{student_id}|{rule}|{day.isoformat()}".encode())
    return f"al-{digest.hexdigest()[:20]}"


def consider(book: AlertBook, hit: RuleHit, *, tenant: str, student_id: str,
             cooldown_days: int) -> tuple[AlertBook, str | None]:
    """Whether a rule hit becomes a new alert; returns the book and the new alert's id.

    Nothing is raised on or before `exempt_until`, while an alert of the same rule is open, or
    within `cooldown_days` of that rule's last resolution (from the resolution day plus
    `cooldown_days` on, it may fire again).
    """
    if book.exempt_until is not None and hit.day <= book.exempt_until:
        return book, None
    if hit.rule in book.open:
        return book, None
    resolved = book.resolved.get(hit.rule)
    if resolved is not None and hit.day < resolved + timedelta(days=cooldown_days):
        return book, None
    alert_id = alert_id_for(tenant, student_id, hit.rule, hit.day)
    return replace(book, open={**book.open, hit.rule: (alert_id, hit.day)}), alert_id


def resolve(book: AlertBook, alert_id: str, decision: str, day: date
            ) -> tuple[AlertBook, str | None]:
    """A tutor's decision on `day`: `acknowledged` keeps the alert open; `contacted`,
    `referred` and `dismissed` close it and start its rule's cooldown. Returns the rule closed,
    or None (also for an alert id that is not open, which changes nothing)."""
    if decision not in CLOSING_DECISIONS:
        return book, None
    for rule, (open_id, _) in book.open.items():
        if open_id == alert_id:
            remaining = {r: v for r, v in book.open.items() if r != rule}
            return replace(book, open=remaining, resolved={**book.resolved, rule: day}), rule
    return book, None


def exempt(book: AlertBook, until: date) -> AlertBook:
    """No alert is raised on any day up to and including `until`; a later exemption replaces
    an earlier one."""
    return replace(book, exempt_until=until)


def forget_rules(book: AlertBook, rules: Iterable[str]) -> AlertBook:
    """Drop every trace of these rules (consent withdrawal deletes engagement alerts)."""
    dropped = set(rules)
    return replace(
        book,
        open={r: v for r, v in book.open.items() if r not in dropped},
        resolved={r: d for r, d in book.resolved.items() if r not in dropped},
    )
