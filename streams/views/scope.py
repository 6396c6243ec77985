"""What each identity may read: a named query's parameters as the asker may ask them, or
`QueryForbidden`. Answered alike whether or not the student or alert named exists, so that a
refusal tells nothing about who is held.

- `explain`: the student themself, or their tutor (the roster's current `tutor_id`).
- `export-student`: the student themself, or a privacy officer.
- `review-list`: a tutor, for their own tutees only.
- `alert`: the tutor of the alert's student, or the student themself.
- `summary`: an operator, for their own tenant's table counts.
A tenant named in the parameters must be the identity's own; the local command line (see
`streams.access`) may read everything.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from scoring.config import Role
from sinks import queries
from streams.access import Identity
from streams.errors import QueryForbidden

REFUSED = "not allowed for this identity"


def scoped(name: str, params: dict[str, Any], identity: Identity, client: Client
           ) -> dict[str, Any]:
    if identity.local:
        return params
    if params.get("tenant", identity.tenant) != identity.tenant:
        raise QueryForbidden(REFUSED)
    mine = {**params, "tenant": identity.tenant}
    if name == "summary":
        _require(identity.has(Role.OPERATOR))
    elif name == "explain":
        _require(_is_self(identity, mine) or _tutors(client, identity, mine.get("student")))
    elif name == "export-student":
        _require(_is_self(identity, mine) or identity.has(Role.PRIVACY_OFFICER))
    elif name == "review-list":
        _require(identity.has(Role.TUTOR) and identity.staff_id is not None
                 and mine.get("tutor", identity.staff_id) == identity.staff_id)
        mine["tutor"] = identity.staff_id
    elif name == "alert":
        found = queries.alerts_by_id(client, [str(mine.get("alert_id", ""))])
        alert = found[0] if found else None
        _require(alert is not None and alert["tenant"] == identity.tenant and (
            _is_self(identity, {"student": alert["student_id"]})
            or _tutors(client, identity, alert["student_id"])))
    else:
        raise QueryForbidden(REFUSED)
    return mine


def _require(allowed: bool) -> None:
    if not allowed:
        raise QueryForbidden(REFUSED)


def _is_self(identity: Identity, params: dict[str, Any]) -> bool:
    return (identity.has(Role.STUDENT) and identity.student_id is not None
            and params.get("student") == identity.student_id)


def _tutors(client: Client, identity: Identity, student: object) -> bool:
    """Whether the identity is a tutor, and the student's current tutor on the roster."""
    if not (identity.has(Role.TUTOR) and identity.staff_id and isinstance(student, str)):
        return False
    profile = queries.student_profile(client, identity.tenant, student)
    return profile is not None and profile.get("tutor_id") == identity.staff_id
