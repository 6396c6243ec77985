"""The worker's web routes: health, metrics, the HTTP and xAPI gateways, and read queries.

Read queries go through the worker because the embedded ClickHouse folder admits one process:
the worker's engine process, which holds it, answers them (see `streams.engine.server`).
"""

from __future__ import annotations

from typing import Any, Protocol

from faust.web import Request, Response, View
from prometheus_client import CollectorRegistry

from streams.engine.contract import Engine
from streams.errors import QueryRefused
from streams.metrics import EXPOSITION_TYPE, WorkerMetrics, render
from streams.web import gateway


class Health(Protocol):
    @property
    def stalled(self) -> bool: ...

    def is_ready(self) -> bool: ...


class WebApp(Protocol):
    def page(self, path: str) -> Any: ...


def register_routes(app: WebApp, *, health: Health, registry: CollectorRegistry,
                    metrics: WorkerMetrics, door: gateway.Door, engine: Engine) -> None:
    @app.page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            if health.stalled:
                return self.json({"status": "stalled"}, status=503)
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ready = health.is_ready()
            return self.json({"ready": ready}, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(render(registry), content_type=EXPOSITION_TYPE)

    @app.page("/v1/events")
    class Events(View):
        async def post(self, request: Request) -> Response:
            status, body = await gateway.handle_events(door, request)
            metrics.gateway_requests.labels(endpoint="/v1/events", status=str(status)).inc()
            return self.json(body, status=status)

    @app.page("/xapi/statements")
    class Statements(View):
        async def post(self, request: Request) -> Response:
            status, body = await gateway.handle_xapi(door, request)
            metrics.gateway_requests.labels(endpoint="/xapi/statements",
                                            status=str(status)).inc()
            return self.json(body, status=status)

    @app.page("/v1/query/{name}")
    class Query(View):
        async def get(self, request: Request, name: str) -> Response:
            params: dict[str, Any] = dict(request.query)
            try:
                result = await engine.query(name, params)
            except QueryRefused as refused:
                return self.json({"error": str(refused)}, status=400)
            return self.json(result)
