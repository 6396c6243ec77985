"""Tokens from the tenants' real OpenID Connect provider become identities, and bad ones are
refused with a reason: another tenant's issuer, a changed payload, an expired token, another
audience, a missing claim. Nothing here stubs the check: every token is the provider's own."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scoring.config import Role, TenantsFile
from streams.access import Identity
from streams.web.identity import TokenRefused, Verifier
from tests.conftest import TEST_TENANTS
from tests.support.identity import IdentityProvider, start_identity_provider

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    provider = start_identity_provider(tmp_path_factory.mktemp("idp"))
    try:
        yield provider
    finally:
        provider.stop()


def verifier(idp: IdentityProvider, **options: object) -> Verifier:
    raw = json.loads(json.dumps(TEST_TENANTS))
    for tenant, config in raw["tenants"].items():
        config["identity"] = idp.identity_config(tenant)
    return Verifier(TenantsFile.model_validate(raw).tenants, **options)  # type: ignore[arg-type]


def check(verify: Verifier, token: str) -> Identity:
    return asyncio.run(verify.verify(token))


def refused(verify: Verifier, token: str) -> str:
    with pytest.raises(TokenRefused) as caught:
        check(verify, token)
    return caught.value.reason


def test_a_providers_token_says_who_and_what_and_which_tenant(idp: IdentityProvider) -> None:
    verify = verifier(idp)
    student = check(verify, idp.token("uni-test", "student-s1"))
    assert student == Identity("uni-test", "p-s1", frozenset({Role.STUDENT}), student_id="s1")
    tutor = check(verify, idp.token("uni-test", "tutor-t1"))
    assert (tutor.roles, tutor.staff_id) == (frozenset({Role.TUTOR}), "t1")
    # A role the engine does not know grants nothing; a known one beside it still counts.
    assert check(verify, idp.token("uni-test", "analyst")).roles == frozenset({Role.ANALYST})
    assert check(verify, idp.token("uni-test", "nobody")).roles == frozenset()
    # The tenant is the issuer's: the same student id at another institution is another person.
    other = check(verify, idp.token("optin-test", "student-s1"))
    assert (other.tenant, other.person) == ("optin-test", "p-b-s1")


def test_a_token_changed_after_signing_is_refused(idp: IdentityProvider) -> None:
    verify = verifier(idp)
    header, payload, signature = idp.token("uni-test", "student-s1").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["student_id"] = "s2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert "signature" in refused(verify, f"{header}.{forged}.{signature}")


def test_a_token_claiming_one_tenants_issuer_signed_by_anothers_is_refused(
        idp: IdentityProvider) -> None:
    verify = verifier(idp)
    theirs = idp.token("optin-test", "student-s1")
    header, payload, signature = theirs.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["iss"] = idp.issuer("uni-test")
    claims["aud"] = ["engage-uni-test"]
    moved = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert "signature" in refused(verify, f"{header}.{moved}.{signature}")


def test_an_issuer_no_tenant_has_is_refused(idp: IdentityProvider) -> None:
    assert refused(verifier(idp), idp.token("uni-test", "student-s1", issuer="elsewhere")) == (
        "issuer is no tenant's")


def test_an_expired_token_is_refused(idp: IdentityProvider) -> None:
    token = idp.token("uni-test", "student-s1")
    assert check(verifier(idp), token).person == "p-s1"
    # The same token, checked by a clock an hour on (it lives 10 minutes).
    later = verifier(idp, clock=lambda: time.time() + 3600)
    assert "exp" in refused(later, token)


def test_a_token_for_another_audience_is_refused(idp: IdentityProvider) -> None:
    assert "aud" in refused(verifier(idp), idp.token("uni-test", "other-audience"))


def test_a_token_without_the_person_claim_is_refused(idp: IdentityProvider) -> None:
    assert refused(verifier(idp), idp.token("uni-test", "no-person")) == (
        "the 'person_id' claim is missing")


@pytest.mark.parametrize("token", ["", "not.a.token", "a.b", "eyJhbGciOiJub25lIn0.e30."])
def test_what_is_not_a_signed_token_is_refused(idp: IdentityProvider, token: str) -> None:
    refused(verifier(idp), token)


def test_the_reason_never_repeats_the_token(idp: IdentityProvider) -> None:
    token = idp.token("uni-test", "other-audience")
    assert token not in refused(verifier(idp), token)
    assert token.split(".")[1] not in refused(verifier(idp), token)


def test_keys_are_fetched_once_and_reused(tmp_path: Path) -> None:
    own = start_identity_provider(tmp_path / "idp")
    try:
        verify = verifier(own)
        first = own.token("uni-test", "student-s1")
        check(verify, first)
    finally:
        own.stop()
    # With the provider gone, tokens signed by a key already fetched still check...
    assert check(verify, first).person == "p-s1"
    # ...and a token of an issuer whose keys were never fetched cannot be: refused.
    assert "could not be fetched" in refused(verify, _unsigned_like(first, own, "optin-test"))


def _unsigned_like(token: str, idp: IdentityProvider, tenant: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["iss"] = idp.issuer(tenant)
    moved = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{moved}.{signature}"
