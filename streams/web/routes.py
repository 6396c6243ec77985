"""The worker's web routes: health, metrics, the HTTP and xAPI gateways, and read queries.

Read queries go through the worker because the embedded ClickHouse folder admits one process:
the worker's engine process, which holds it, answers them (see `streams.engine.server`).
"""

from __future__ import annotations

from typing import Any, Protocol

from faust.web import Request, Response, View
from prometheus_client import CollectorRegistry

from streams.access import Identity
from streams.engine.contract import Engine
from streams.errors import QueryForbidden, QueryRefused
from streams.metrics import EXPOSITION_TYPE, WorkerMetrics, render
from streams.web import gateway
from streams.web.policy import policy_for


class Health(Protocol):
    @property
    def stalled(self) -> bool: ...

    def is_ready(self) -> bool: ...


class WebApp(Protocol):
    def page(self, path: str) -> Any: ...


class Authenticator(Protocol):
    async def identify(self, authorization: str | None) -> Identity | None:
        """Who the `Authorization` header proves the caller is, or None."""
        ...


def register_routes(app: WebApp, *, health: Health, registry: CollectorRegistry,
                    metrics: WorkerMetrics, door: gateway.Door, engine: Engine,
                    who: Authenticator) -> None:
    def page(path: str, *methods: str) -> Any:
        for method in methods:
            policy_for(method, path)  # a route without a policy is not served
        return app.page(path)

    @page("/healthz", "GET")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            if health.stalled:
                return self.json({"status": "stalled"}, status=503)
            return self.json({"status": "ok"})

    @page("/readyz", "GET")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ready = health.is_ready()
            return self.json({"ready": ready}, status=200 if ready else 503)

    @page("/metrics", "GET")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(render(registry), content_type=EXPOSITION_TYPE)

    @page("/v1/events", "POST")
    class Events(View):
        async def post(self, request: Request) -> Response:
            status, body = await gateway.handle_events(door, request)
            metrics.gateway_requests.labels(endpoint="/v1/events", status=str(status)).inc()
            return self.json(body, status=status)

    @page("/xapi/statements", "POST")
    class Statements(View):
        async def post(self, request: Request) -> Response:
            status, body = await gateway.handle_xapi(door, request)
            metrics.gateway_requests.labels(endpoint="/xapi/statements",
                                            status=str(status)).inc()
            return self.json(body, status=status)

    @page("/v1/query/{name}", "GET")
    class Query(View):
        async def get(self, request: Request, name: str) -> Response:
            identity = await who.identify(request.headers.get("Authorization"))
            if identity is None:
                return self.json({"error": "sign in: missing or invalid credentials"},
                                 status=401, headers={"WWW-Authenticate": "Bearer"})
            params: dict[str, Any] = dict(request.query)
            try:
                result = await engine.query(name, params, identity)
            except QueryRefused as refused:
                return self.json({"error": str(refused)}, status=400)
            except QueryForbidden:
                return self.json({"error": "not allowed for this identity"}, status=403)
            return self.json(result)
