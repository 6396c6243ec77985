"""A tenant's identity provider in the tenant file: who is who, and never a secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scoring.config import IdentityConfig, Role, TenantConfig


def test_the_identity_settings_name_the_provider_and_the_claims() -> None:
    tenant = TenantConfig.model_validate({"identity": {
        "issuer": "https://login.microsoftonline.com/0000/v2.0", "client_id": "engage",
        "client_secret_env": "ENGAGE_UNI_OIDC_SECRET", "person_claim": "oid",
        "role_map": {"Engage.Tutor": "tutor", "Engage.Student": "student"}}})
    assert tenant.identity is not None
    assert tenant.identity.accepted_audience == "engage"
    assert tenant.identity.role_map == {"Engage.Tutor": Role.TUTOR,
                                        "Engage.Student": Role.STUDENT}


@pytest.mark.parametrize("wrong", [
    {"client_secret": "s3cret"},  # a secret is never in the tenant file
    {"role_map": {"Staff": "superuser"}},  # only the engine's roles
    {"issuer": "login.example.ac.uk"},  # an issuer is a URL
    {"issuer": "https://login.example.ac.uk/realms/uni/"},  # without the trailing slash
])
def test_what_the_tenant_file_may_not_say_is_refused(wrong: dict[str, object]) -> None:
    raw = {"issuer": "https://login.example.ac.uk/realms/uni", "client_id": "engage", **wrong}
    with pytest.raises(ValidationError):
        IdentityConfig.model_validate(raw)
