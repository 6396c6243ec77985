"""Reads through the worker, signed in through the tenants' real OpenID Connect provider: each
identity reads what its role allows, for its own tenant, and nothing else; refusals look alike
whether or not the student exists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from tests.conftest import TEST_TENANTS
from tests.support.events import event
from tests.support.identity import IdentityProvider, start_identity_provider
from tests.support.worker import EngineEnv, WorkerProcess, send

pytestmark = pytest.mark.integration


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[IdentityProvider]:
    provider = start_identity_provider(tmp_path / "idp")
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def signed_in_env(engine_env: EngineEnv, idp: IdentityProvider, tmp_path: Path) -> EngineEnv:
    tenants = json.loads(json.dumps(TEST_TENANTS))
    for name, config in tenants["tenants"].items():
        config["identity"] = idp.identity_config(name)
    path = tmp_path / "signed-in.yaml"
    path.write_text(yaml.safe_dump(tenants))
    engine_env.tenant_config = path
    return engine_env


def test_each_identity_reads_only_what_its_role_allows(
        signed_in_env: EngineEnv, idp: IdentityProvider, worker: WorkerProcess) -> None:
    worker.start()
    day = (datetime.now(tz=UTC) - timedelta(days=1)).replace(hour=10, minute=0, second=0,
                                                             microsecond=0)
    send(signed_in_env, worker, [
        event("roster.student", "s1", day - timedelta(days=1), college="CLES", tutor_id="t1"),
        event("roster.student", "s2", day - timedelta(days=1), college="CLES", tutor_id="t2"),
        *(event("vle.click", s, day + timedelta(minutes=2 * k), module="BIO1001")
          for s in ("s1", "s2") for k in range(3)),
    ])
    tokens = {person: idp.token("uni-test", person)
              for person in ("student-s1", "tutor-t1", "tutor-t2", "analyst", "operator",
                             "privacy")}
    elsewhere = idp.token("optin-test", "student-s1")

    def ask(name: str, credentials: str | None, **params: str) -> int:
        status, _ = worker.get(f"/v1/query/{name}?{urlencode(params)}", credentials)
        return status

    def as_(person: str) -> str:
        return f"Bearer {tokens[person]}"

    explain = {"tenant": "uni-test", "date": day.date().isoformat()}
    # No credentials, or ones that prove nothing: 401.
    assert ask("explain", None, student="s1", **explain) == 401
    assert ask("explain", "Bearer not-a-token", student="s1", **explain) == 401
    assert ask("explain", f"Local {'x' * 43}", student="s1", **explain) == 401
    # The student sees their own record; their tutor sees it; nobody else does.
    assert ask("explain", as_("student-s1"), student="s1", **explain) == 200
    assert ask("explain", as_("tutor-t1"), student="s1", **explain) == 200
    assert ask("explain", as_("student-s1"), student="s2", **explain) == 403
    assert ask("explain", as_("tutor-t2"), student="s1", **explain) == 403
    assert ask("explain", as_("analyst"), student="s1", **explain) == 403
    assert ask("explain", as_("operator"), student="s1", **explain) == 403
    # A student who does not exist is refused as one who is not a tutee.
    refused_other = worker.get(f"/v1/query/explain?{urlencode({**explain, 'student': 's2'})}",
                               as_("tutor-t1"))
    refused_absent = worker.get(
        f"/v1/query/explain?{urlencode({**explain, 'student': 'nobody-here'})}", as_("tutor-t1"))
    assert refused_other == refused_absent
    # The tenant is the identity's: naming another one is refused, as is another tenant's token.
    assert ask("explain", as_("student-s1"), student="s1", date=explain["date"],
               tenant="optin-test") == 403
    assert ask("explain", f"Bearer {elsewhere}", student="s1", **explain) == 403

    export = {"tenant": "uni-test", "student": "s1"}
    assert ask("export-student", as_("student-s1"), **export) == 200
    assert ask("export-student", as_("privacy"), **export) == 200
    assert ask("export-student", as_("tutor-t1"), **export) == 403
    assert ask("export-student", as_("operator"), **export) == 403

    assert ask("review-list", as_("tutor-t1"), tenant="uni-test") == 200
    assert ask("review-list", as_("tutor-t1"), tenant="uni-test", tutor="t2") == 403
    assert ask("review-list", as_("student-s1"), tenant="uni-test") == 403

    status, body = worker.get("/v1/query/summary", as_("operator"))
    assert status == 200
    assert json.loads(body)["rows"]["students"] == 2
    assert ask("summary", as_("student-s1")) == 403
    assert ask("summary", as_("analyst")) == 403

    # The command line on the worker's machine reads as before.
    shown = signed_in_env.engage("explain", "--tenant", "uni-test", "--student", "s1",
                                 "--date", explain["date"], "--json")
    assert json.loads(shown.stdout)["student_id"] == "s1"
    # Refusals are logged with their reason, never with the token.
    log = worker.log()
    assert "a bearer token was refused" in log
    assert not [t for t in (*tokens.values(), elsewhere) if t in log]
