"""HTTP and xAPI gateways for systems that do not speak Kafka.

Each event is validated on its own and answered on its own; the valid ones are produced to their
topics with the `<tenant>:<student_id>` key and acknowledged by the broker before we answer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import TYPE_CHECKING, Any

from faust.web import Request

from schemas.decode import DeadLetterReason, Rejection, parse_event_object
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


def _rejected(index: int, rejection: Rejection) -> Result:
    return {"index": index, "status": "rejected", "reason": str(rejection.reason),
            "detail": rejection.detail}


def _status(results: list[Result]) -> int:
    if results and all(r.get("reason") == "unauthorized" for r in results):
        return 401
    return 200


async def handle_events(worker: EngineWorker, request: Request) -> tuple[int, Result]:
    body = await _read_body(worker, request)
    if isinstance(body, tuple):
        return body
    objects = _parse_objects(body)
    if objects is None:
        return 400, {"error": "body must be a JSON array of events, or JSON lines"}
    now = from_ms(worker.processor.wall_clock_ms())
    token = _bearer(request)
    results: list[Result] = []
    accepted: list[tuple[Event, bytes]] = []
    for index, obj in enumerate(objects):
        checked = _check(
            worker,
            parse_event_object(obj, now=now, max_future=worker.processor.max_future),
            token,
        )
        if isinstance(checked, Rejection):
            results.append(_rejected(index, checked))
            continue
        accepted.append((checked, json.dumps(obj, separators=(",", ":")).encode()))
        results.append({"index": index, "status": "accepted", "event_id": checked.event_id})
    await _produce(worker, accepted)
    return _status(results), {
        "accepted": len(accepted),
        "rejected": len(results) - len(accepted),
        "results": results,
    }


async def handle_xapi(worker: EngineWorker, request: Request) -> tuple[int, Result]:
    tenant = request.query.get("tenant") or request.headers.get("X-Engage-Tenant")
    if not tenant or tenant not in worker.settings.tenants:
        return 400, {"error": "name a configured tenant with ?tenant= or X-Engage-Tenant"}
    if not _authorised(worker, tenant, _bearer(request)):
        return 401, {"error": "missing or wrong bearer token for this tenant"}
    body = await _read_body(worker, request)
    if isinstance(body, tuple):
        return body
    objects = _parse_objects(body)
    if objects is None:
        return 400, {"error": "body must be an xAPI statement or an array of statements"}
    now = from_ms(worker.processor.wall_clock_ms())
    results: list[Result] = []
    accepted: list[tuple[Event, bytes]] = []
    for index, statement in enumerate(objects):
        if not isinstance(statement, dict):
            results.append({"index": index, "status": "rejected", "reason": "schema_violation",
                            "detail": "a statement must be a JSON object"})
            continue
        mapped = map_statement(statement, tenant=tenant)
        if isinstance(mapped, IgnoredStatement):
            results.append({"index": index, "status": "ignored", "verb": mapped.verb,
                            "detail": mapped.reason})
            continue
        if isinstance(mapped, Rejection):
            results.append(_rejected(index, mapped))
            continue
        value = mapped.model_dump_json().encode()
        checked = parse_event_object(json.loads(value), now=now,
                                     max_future=worker.processor.max_future)
        if isinstance(checked, Rejection):
            results.append(_rejected(index, checked))
            continue
        accepted.append((checked, value))
        results.append({"index": index, "status": "accepted", "type": checked.type,
                        "event_id": checked.event_id})
    await _produce(worker, accepted)
    return 200, {
        "accepted": len(accepted),
        "ignored": sum(r["status"] == "ignored" for r in results),
        "rejected": sum(r["status"] == "rejected" for r in results),
        "results": results,
    }
