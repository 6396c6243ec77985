"""The worker's web routes: health, metrics, the HTTP and xAPI gateways, and read queries.

Read queries go through the worker because the embedded ClickHouse folder admits one process:
the worker's engine process, which holds it, answers them (see `streams.engine.server`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from streams.engine.wire import BAD_QUERY, QUERY, RemoteFailure
from streams.metrics import EXPOSITION_TYPE, render
from streams.web import gateway

if TYPE_CHECKING:
    from streams.worker.app import EngineWorker


def register_routes(worker: EngineWorker) -> None:
    app = worker.app

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            if worker.stalled:
                return self.json({"status": "stalled"}, status=503)
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ready = worker.is_ready()
            return self.json({"ready": ready}, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(render(worker.registry), content_type=EXPOSITION_TYPE)

    @app.page("/v1/events")
    class Events(View):
        async def post(self, request: Request) -> Response:
            status, body = await gateway.handle_events(worker, request)
            worker.metrics.gateway_requests.labels(endpoint="/v1/events", status=str(status)).inc()
            return self.json(body, status=status)

    @app.page("/xapi/statements")
    class Statements(View):
        async def post(self, request: Request) -> Response:
            status, body = await gateway.handle_xapi(worker, request)
            worker.metrics.gateway_requests.labels(endpoint="/xapi/statements",
                                                   status=str(status)).inc()
            return self.json(body, status=status)

    @app.page("/v1/query/{name}")
    class Query(View):
        async def get(self, request: Request, name: str) -> Response:
            params: dict[str, Any] = dict(request.query)
            try:
                result = await worker.link.call(QUERY, (name, params))
            except RemoteFailure as failure:
                if failure.kind != BAD_QUERY:
                    raise
                return self.json({"error": failure.message}, status=400)
            return self.json(result)
