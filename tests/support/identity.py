"""The real OpenID Connect provider of the tests (`identity/localidp.py`), with demo people.

Each tenant of `TEST_TENANTS` is an issuer of its own. A token is asked for on the provider's
token endpoint; the `scope` sent names the person (see `PEOPLE`), whose claims the provider
signs with that issuer's key.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.support.broker import free_port, runner

CLIENT = "engage-{tenant}"
# Who signs in, per tenant: their claims as the institution's provider would give them.
PEOPLE: dict[str, dict[str, dict[str, Any]]] = {
    "uni-test": {
        "student-s1": {"person_id": "p-s1", "student_id": "s1", "roles": ["Student"]},
        "tutor-t1": {"person_id": "p-t1", "staff_id": "t1", "roles": ["Tutor"]},
        "tutor-t2": {"person_id": "p-t2", "staff_id": "t2", "roles": ["Tutor"]},
        "analyst": {"person_id": "p-an", "roles": ["Analyst", "Librarian"]},
        "operator": {"person_id": "p-op", "roles": ["Ops"]},
        "privacy": {"person_id": "p-dpo", "roles": ["DPO"]},
        "nobody": {"person_id": "p-no", "roles": ["Librarian"]},
        "no-person": {"student_id": "s9", "roles": ["Student"]},
        "other-audience": {"person_id": "p-x", "roles": ["Student"], "aud": ["another-app"]},
    },
    "optin-test": {
        "student-s1": {"person_id": "p-b-s1", "student_id": "s1", "roles": ["Student"]},
    },
}
ROLE_MAP = {"Student": "student", "Tutor": "tutor", "Analyst": "analyst", "Ops": "operator",
            "DPO": "privacy_officer"}


def _localidp() -> ModuleType:
    return runner("identity/localidp.py")


def provider_config() -> dict[str, Any]:
    callbacks = []
    for tenant, people in PEOPLE.items():
        mappings = [{"requestParam": "scope", "match": name,
                     "claims": {"aud": [CLIENT.format(tenant=tenant)], **claims}}
                    for name, claims in people.items()]
        callbacks.append({"issuerId": tenant, "tokenExpiry": 600, "requestMappings": mappings})
    return {"interactiveLogin": False, "tokenCallbacks": callbacks}


@dataclass
class IdentityProvider:
    state_dir: Path
    port: int

    def issuer(self, tenant: str) -> str:
        return f"http://127.0.0.1:{self.port}/{tenant}"

    def identity_config(self, tenant: str) -> dict[str, Any]:
        """The tenant file's `identity` for `tenant`, as an institution would write it."""
        return {"issuer": self.issuer(tenant), "client_id": CLIENT.format(tenant=tenant),
                "person_claim": "person_id", "role_map": ROLE_MAP}

    def token(self, tenant: str, person: str, *, issuer: str | None = None) -> str:
        """An access token for `person` of `tenant`, from the issuer (by default the tenant's)."""
        body = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": CLIENT.format(tenant=tenant),
            "client_secret": "not-checked-by-the-test-provider", "scope": person}).encode()
        url = f"http://127.0.0.1:{self.port}/{issuer or tenant}/token"
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
            return str(json.loads(r.read())["access_token"])

    def stop(self) -> None:
        _localidp().down(self.state_dir)


def start_identity_provider(state_dir: Path) -> IdentityProvider:
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "provider.json"
    config.write_text(json.dumps(provider_config()))
    port = free_port()
    _localidp().up(state_dir, port, config)
    return IdentityProvider(state_dir, port)
