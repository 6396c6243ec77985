"""Who may call each route of the worker's web server, and what they get: one table.

`register_routes` serves only routes listed here, and a test enumerates every route the app
registers (Faust's own included) against this table, so that a route cannot be added without
a policy. Denied by default: a signed-in route answers 401 without valid credentials and 403
for an identity out of scope (`streams.views.scope`), alike whether or not what it names exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Caller(StrEnum):
    ANYONE = "anyone"
    GATEWAY_TOKEN = "a gateway token of the event's tenant naming its type"
    SIGNED_IN = ("a person signed in through their tenant's provider (bearer token), or the "
                 "local command line")


@dataclass(frozen=True, slots=True)
class Policy:
    caller: Caller
    scope: str


POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/healthz"): Policy(Caller.ANYONE, "stalled or not; nothing personal"),
    ("GET", "/readyz"): Policy(Caller.ANYONE, "ready or not; nothing personal"),
    ("GET", "/"): Policy(Caller.ANYONE, "Faust's status page: {\"status\": \"OK\"}"),
    ("GET", "/metrics"): Policy(
        Caller.ANYONE, "counters and timings labelled by topic, table, tenant, rule, reason; "
                       "nothing about a person (restrict it to the monitoring network)"),
    ("POST", "/v1/events"): Policy(Caller.GATEWAY_TOKEN, "writes the token's event types"),
    ("POST", "/xapi/statements"): Policy(Caller.GATEWAY_TOKEN, "writes the token's event types"),
    ("GET", "/v1/query/{name}"): Policy(
        Caller.SIGNED_IN, "per query, for the identity's own tenant: see streams.views.scope"),
}


def policy_for(method: str, path: str) -> Policy:
    """The route's policy; a route without one is a defect, refused at registration."""
    method = "GET" if method == "HEAD" else method
    try:
        return POLICIES[(method, path)]
    except KeyError:
        raise LookupError(f"{method} {path} has no access policy in streams.web.policy") from None
