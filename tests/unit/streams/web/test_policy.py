"""Every route the worker's web server registers, Faust's own included, has an access policy:
a route added without one fails here (and is refused where `register_routes` adds it)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
import yaml
from faust.web import Request, Response, View
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from streams.settings import Settings
from streams.web.policy import POLICIES, Caller, policy_for
from streams.worker.app import StreamWorker
from tests.conftest import TEST_TENANTS


@pytest.fixture
def worker(tmp_path: Path) -> StreamWorker:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(yaml.safe_dump(TEST_TENANTS))
    return StreamWorker(Settings(tenant_config=tenants, data_dir=tmp_path / "worker"))


def served(worker: StreamWorker) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, with Faust's blueprints applied as at
    start."""
    web = worker.app.web
    web.blueprints.apply(web)
    router = cast(AiohttpWeb, web).web_app.router
    return {(route.method, route.resource.canonical) for route in router.routes()
            if route.resource is not None}


def unpoliced(routes: set[tuple[str, str]]) -> list[str]:
    """Routes without a policy. HEAD is answered as GET, and where a route has no GET, Faust
    answers HEAD 405: it needs a policy for some method of its path."""
    paths = {path for _, path in POLICIES}
    return sorted(f"{method} {path}" for method, path in routes
                  if not ((method, path) in POLICIES or (method == "HEAD" and path in paths)))


def test_every_route_served_has_a_policy(worker: StreamWorker) -> None:
    routes = served(worker)
    assert {("GET", "/v1/query/{name}"), ("POST", "/v1/events"), ("GET", "/metrics")} <= routes
    assert unpoliced(routes) == []


def test_faust_pages_of_table_keys_and_partition_owners_are_not_served(
        worker: StreamWorker) -> None:
    assert not [path for _, path in served(worker) if path.startswith(("/router", "/table"))]


def test_a_route_added_without_a_policy_is_found(worker: StreamWorker) -> None:
    @worker.app.page("/v1/students")
    class Students(View):
        async def get(self, request: Request) -> Response:
            return self.json([])

    assert unpoliced(served(worker)) == ["GET /v1/students", "HEAD /v1/students"]


def test_register_routes_refuses_a_route_without_a_policy() -> None:
    with pytest.raises(LookupError, match="GET /v1/students has no access policy"):
        policy_for("GET", "/v1/students")
    assert policy_for("HEAD", "/v1/query/{name}").caller is Caller.SIGNED_IN


def test_only_health_readiness_status_and_metrics_are_anonymous() -> None:
    anonymous = {path for (_, path), policy in POLICIES.items() if policy.caller is Caller.ANYONE}
    assert anonymous == {"/healthz", "/readyz", "/", "/metrics"}
