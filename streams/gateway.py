"""HTTP and xAPI gateways for systems that do not speak Kafka.

Each event is validated on its own and answered on its own; the valid ones are produced to their
topics with the `<tenant>:<student_id>` key and acknowledged by the broker before we answer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from faust.web import Request

from schemas.decode import DeadLetterReason, Rejection, not_in_future, parse_event_object
from schemas.events import Event
from schemas.topics import TOPIC_FOR_TYPE
from schemas.xapi import IgnoredStatement, map_statement
from scoring.timebase import from_ms

if TYPE_CHECKING:
    from streams.app import EngineWorker

Result = dict[str, Any]


def _too_large(limit: int) -> tuple[int, Result]:
    return 413, {"error": "payload too large", "limit_bytes": limit}


async def _read_body(worker: EngineWorker, request: Request) -> bytes | tuple[int, Result]:
    limit = worker.settings.gateway_max_bytes
    declared = request.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return _too_large(limit)
    body = await request.read()
    if len(body) > limit:
        return _too_large(limit)
    return body


def _parse_objects(body: bytes) -> list[Any] | None:
    """A JSON array, a single JSON object, or JSON lines; None when it is none of these."""
    text = body.decode("utf-8", errors="strict") if body else ""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        parsed = json.loads(stripped)
    except json.JSONDecodeError:
        try:
            return [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except json.JSONDecodeError:
            return None
    return parsed if isinstance(parsed, list) else [parsed]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _authorised(worker: EngineWorker, tenant: str, token: str | None) -> bool:
    config = worker.settings.tenants.get(tenant)
    if config is None or config.gateway_token is None:
        return True
    return token is not None and hmac.compare_digest(
        token.encode(), config.gateway_token.get_secret_value().encode()
    )


async def _produce(worker: EngineWorker, items: list[tuple[Event, bytes]]) -> None:
    pending = []
    for event, value in items:
        topic = worker.app.topic(TOPIC_FOR_TYPE[event.type], key_serializer="raw",
                                 value_serializer="raw")
        pending.append(await topic.send(key=event.key().encode(), value=value))
    await asyncio.gather(*pending)


def _check(worker: EngineWorker, parsed: Event | Rejection, token: str | None
           ) -> Event | Rejection:
    if isinstance(parsed, Rejection):
        return parsed
    if parsed.tenant not in worker.settings.tenants:
        return Rejection(DeadLetterReason.UNKNOWN_TENANT,
                         f"tenant {parsed.tenant!r} is not configured")
    if not _authorised(worker, parsed.tenant, token):
        return Rejection(DeadLetterReason.UNAUTHORIZED,
                         "missing or wrong bearer token for this tenant")
    return parsed


Outcome = Event | Rejection | IgnoredStatement


def _rejected(index: int, rejection: Rejection) -> Result:
    return {"index": index, "status": "rejected", "reason": str(rejection.reason),
            "detail": rejection.detail}


async def _body_objects(worker: EngineWorker, request: Request, what: str
                        ) -> list[Any] | tuple[int, Result]:
    body = await _read_body(worker, request)
    if isinstance(body, tuple):
        return body
    objects = _parse_objects(body)
    if objects is None:
        return 400, {"error": f"body must be {what}"}
    return objects


async def _answer(worker: EngineWorker, outcomes: list[tuple[Outcome, bytes]]) -> Result:
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
    await _produce(worker, accepted)
    return {
        "accepted": len(accepted),
        "ignored": sum(r["status"] == "ignored" for r in results),
        "rejected": sum(r["status"] == "rejected" for r in results),
        "results": results,
    }


async def handle_events(worker: EngineWorker, request: Request) -> tuple[int, Result]:
    objects = await _body_objects(worker, request, "a JSON array of events, or JSON lines")
    if isinstance(objects, tuple):
        return objects
    now = from_ms(worker.processor.wall_clock_ms())
    token = _bearer(request)
    outcomes: list[tuple[Outcome, bytes]] = [
        (_check(worker, parse_event_object(obj, now=now, max_future=worker.processor.max_future),
                token),
         json.dumps(obj, separators=(",", ":")).encode())
        for obj in objects
    ]
    answer = await _answer(worker, outcomes)
    unauthorised = all(r.get("reason") == "unauthorized" for r in answer["results"])
    return (401 if answer["results"] and unauthorised else 200), answer


def _from_statement(statement: Any, tenant: str, now: datetime, max_future: timedelta
                    ) -> Outcome:
    if not isinstance(statement, dict):
        return Rejection(DeadLetterReason.SCHEMA_VIOLATION, "a statement must be a JSON object")
    mapped = map_statement(statement, tenant=tenant)
    if isinstance(mapped, IgnoredStatement | Rejection):
        return mapped
    return not_in_future(mapped, now, max_future)


async def handle_xapi(worker: EngineWorker, request: Request) -> tuple[int, Result]:
    tenant = request.query.get("tenant") or request.headers.get("X-Engage-Tenant")
    if not tenant or tenant not in worker.settings.tenants:
        return 400, {"error": "name a configured tenant with ?tenant= or X-Engage-Tenant"}
    if not _authorised(worker, tenant, _bearer(request)):
        return 401, {"error": "missing or wrong bearer token for this tenant"}
    objects = await _body_objects(worker, request,
                                  "an xAPI statement or an array of statements")
    if isinstance(objects, tuple):
        return objects
    now = from_ms(worker.processor.wall_clock_ms())
    outcomes: list[tuple[Outcome, bytes]] = []
    for statement in objects:
        outcome = _from_statement(statement, tenant, now, worker.processor.max_future)
        value = outcome.model_dump_json().encode() if not isinstance(
            outcome, IgnoredStatement | Rejection) else b""
        outcomes.append((outcome, value))
    return 200, await _answer(worker, outcomes)
