"""HTTP and xAPI gateways for systems that do not speak Kafka.

Each event is validated on its own and answered on its own; the valid ones are produced to their
topics with the `<tenant>:<student_id>` key and acknowledged by the broker before we answer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from aiohttp import StreamReader, web
from faust.web import Request

from schemas.decode import DeadLetterReason, Rejection, not_in_future, parse_event_object
from schemas.events import Event
from schemas.topics import TOPIC_FOR_TYPE
from schemas.xapi import IgnoredStatement, map_statement
from scoring.timebase import from_ms
from streams.settings import GatewayKey, Settings

Result = dict[str, Any]
# Send one record (topic, key, value); the awaitable it returns completes once the broker has it.
Send = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]


@dataclass(frozen=True, slots=True)
class Door:
    """What the gateways need of the worker: its settings, a way to produce, the clock, and
    the tenants' gateway tokens."""

    settings: Settings
    send: Send
    wall_clock_ms: Callable[[], int]
    keys: Mapping[str, list[GatewayKey]]  # per tenant, its tokens (see `Settings.gateway_tokens`)

    @property
    def max_future(self) -> timedelta:
        return timedelta(hours=self.settings.max_future_hours)


def _too_large(limit: int) -> tuple[int, Result]:
    return 413, {"error": "payload too large", "limit_bytes": limit}


async def _read_at_most(stream: StreamReader, limit: int) -> bytes | None:
    """The body, or None as soon as it passes `limit`. Read piece by piece because a chunked
    body declares no length, and aiohttp's own client_max_size check answers in plain text."""
    body = bytearray()
    async for piece in stream.iter_any():
        body += piece
        if len(body) > limit:
            return None
    return bytes(body)


async def _read_body(door: Door, request: Request) -> bytes | tuple[int, Result]:
    limit = door.settings.gateway_max_bytes
    declared = request.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return _too_large(limit)
    # faust's aiohttp driver hands us aiohttp's request; its `content` is the body stream.
    body = await _read_at_most(cast(web.Request, request).content, limit)
    return _too_large(limit) if body is None else body


def _loads(text: str) -> Any:
    """json.loads failing only with ValueError, worded for the sender: the limits of Python's
    parser (nesting depth, digits in an integer) are not JSON syntax errors."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError:
        raise ValueError("a number has too many digits") from None


def _why_not_json(error: ValueError, line: int) -> str:
    """Why, and where in the body: `line` is the body line the parsed text starts on."""
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {line + error.lineno - 1} column {error.colno}"
    return f"{error} at line {line}"


def _json_lines(text: str) -> list[Any]:
    """Each non-blank line parsed on its own; a line that is not JSON is its rejection."""
    items: list[Any] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(_loads(line))
        except ValueError as error:
            items.append(Rejection(DeadLetterReason.NOT_JSON,
                                   f"not JSON: {_why_not_json(error, number)}"))
    return items


def _parse_items(text: str) -> list[Any] | str:
    """One JSON document (an array, or a single object) or JSON lines, as items: parsed values,
    and the rejections of lines that are not JSON. Why not, when nothing in it is JSON."""
    if not text.strip():
        return []
    try:
        parsed = _loads(text)
    except ValueError as error:
        # A broken array is one document, not lines: a line of it may parse on its own.
        lines = [] if text.lstrip().startswith("[") else _json_lines(text)
        if all(isinstance(item, Rejection) for item in lines):
            return _why_not_json(error, 1)
        return lines
    return parsed if isinstance(parsed, list) else [parsed]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


# One answer for an unknown tenant, a missing token and a wrong one: tenant names cannot be
# learnt from the gateway.
NOT_AUTHORISED = "missing or wrong bearer token for this tenant"


def _key_for(door: Door, tenant: str, token: str | None) -> GatewayKey | None:
    """The tenant's gateway token `token` is, or None (also for a tenant not configured)."""
    if token is None:
        return None
    found = None
    for key in door.keys.get(tenant, ()):
        # Every key is compared, so the time taken does not tell which one matched.
        if hmac.compare_digest(token.encode(), key.value.get_secret_value().encode()):
            found = key
    return found


def _refusal(door: Door, tenant: str, token: str | None, event_type: str | None
             ) -> Rejection | None:
    """Why this token may not write this event type for this tenant, or None when it may:
    an open tenant takes anything; otherwise the token must be one of the tenant's and name
    the type (`None`: any it names, as for a whole xAPI request before its statements map)."""
    config = door.settings.tenants.get(tenant)
    if config is not None and config.gateway.open:
        return None
    key = None if config is None else _key_for(door, tenant, token)
    if key is None:
        return Rejection(DeadLetterReason.UNAUTHORIZED, NOT_AUTHORISED)
    if event_type is not None and event_type not in key.types:
        return Rejection(DeadLetterReason.FORBIDDEN,
                         f"the token {key.name!r} may not send {event_type}")
    return None


async def _produce(door: Door, items: list[tuple[Event, bytes]]) -> None:
    pending = [await door.send(TOPIC_FOR_TYPE[event.type], event.key().encode(), value)
               for event, value in items]
    await asyncio.gather(*pending)


def _check(door: Door, parsed: Event | Rejection, token: str | None
           ) -> Event | Rejection:
    if isinstance(parsed, Rejection):
        return parsed
    return _refusal(door, parsed.tenant, token, parsed.type) or parsed


Outcome = Event | Rejection | IgnoredStatement


def _rejected(index: int, rejection: Rejection) -> Result:
    return {"index": index, "status": "rejected", "reason": str(rejection.reason),
            "detail": rejection.detail}


async def _body_items(door: Door, request: Request, what: str
                      ) -> list[Any] | tuple[int, Result]:
    body = await _read_body(door, request)
    if isinstance(body, tuple):
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return 400, {"error": f"body must be UTF-8 text: {error.reason} at byte {error.start}"}
    items = _parse_items(text)
    if isinstance(items, str):
        return 400, {"error": f"body must be {what}; not JSON: {items}"}
    return items


async def _answer(door: Door, outcomes: list[tuple[Outcome, bytes]]) -> Result:
    """Per-item results; the accepted events are produced (and acknowledged) first."""
    results: list[Result] = []
    accepted: list[tuple[Event, bytes]] = []
    for index, (outcome, value) in enumerate(outcomes):
        if isinstance(outcome, IgnoredStatement):
            results.append({"index": index, "status": "ignored", "verb": outcome.verb,
                            "detail": outcome.reason})
        elif isinstance(outcome, Rejection):
            results.append(_rejected(index, outcome))
        else:
            accepted.append((outcome, value))
            results.append({"index": index, "status": "accepted", "type": outcome.type,
                            "event_id": outcome.event_id})
    await _produce(door, accepted)
    return {
        "accepted": len(accepted),
        "ignored": sum(r["status"] == "ignored" for r in results),
        "rejected": sum(r["status"] == "rejected" for r in results),
        "results": results,
    }


def _event_outcome(door: Door, item: Any, now: datetime, token: str | None
                   ) -> tuple[Outcome, bytes]:
    """The item's outcome and, when accepted, the bytes to produce: the event as sent."""
    if isinstance(item, Rejection):
        return item, b""
    parsed = parse_event_object(item, now=now, max_future=door.max_future)
    outcome = _check(door, parsed, token)
    if isinstance(outcome, Rejection):
        return outcome, b""
    return outcome, json.dumps(item, separators=(",", ":")).encode()


async def handle_events(door: Door, request: Request) -> tuple[int, Result]:
    items = await _body_items(door, request, "a JSON array of events, or JSON lines")
    if isinstance(items, tuple):
        return items
    now = from_ms(door.wall_clock_ms())
    token = _bearer(request)
    answer = await _answer(door, [_event_outcome(door, item, now, token) for item in items])
    unauthorised = all(r.get("reason") == "unauthorized" for r in answer["results"])
    return (401 if answer["results"] and unauthorised else 200), answer


def _from_statement(item: Any, tenant: str, now: datetime, max_future: timedelta
                    ) -> Outcome:
    if isinstance(item, Rejection):
        return item
    mapped = map_statement(item, tenant=tenant)
    if isinstance(mapped, IgnoredStatement | Rejection):
        return mapped
    return not_in_future(mapped, now, max_future)


async def handle_xapi(door: Door, request: Request) -> tuple[int, Result]:
    tenant = request.query.get("tenant") or request.headers.get("X-Engage-Tenant")
    if not tenant:
        return 400, {"error": "name the tenant with ?tenant= or X-Engage-Tenant"}
    token = _bearer(request)
    if _refusal(door, tenant, token, None) is not None:
        return 401, {"error": NOT_AUTHORISED}
    items = await _body_items(door, request, "an xAPI statement or an array of statements")
    if isinstance(items, tuple):
        return items
    now = from_ms(door.wall_clock_ms())
    outcomes: list[tuple[Outcome, bytes]] = []
    for item in items:
        outcome = _from_statement(item, tenant, now, door.max_future)
        if not isinstance(outcome, IgnoredStatement | Rejection):
            outcome = _refusal(door, tenant, token, outcome.type) or outcome
        value = outcome.model_dump_json().encode() if not isinstance(
            outcome, IgnoredStatement | Rejection) else b""
        outcomes.append((outcome, value))
    return 200, await _answer(door, outcomes)
