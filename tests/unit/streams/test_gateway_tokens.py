"""Gateway tokens: named in the tenant file with the event types each may send, their values
read from the environment or a mounted file, never from the tenant file itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from scoring.config import GatewayToken, TenantConfig
from streams.errors import ConfigurationError
from streams.settings import Settings


def settings_with(tmp_path: Path, gateway: dict[str, object]) -> Settings:
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump({"tenants": {"uni": {"gateway": gateway}}}))
    return Settings(tenant_config=path)


def test_values_come_from_the_environment_and_from_files(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vle").write_text("vle-secret\n")
    monkeypatch.setenv("UNI_SIS_TOKEN", "sis-secret")
    settings = settings_with(tmp_path, {"tokens": [
        {"name": "vle", "file": str(tmp_path / "vle"), "types": ["vle.click"]},
        {"name": "sis", "env": "UNI_SIS_TOKEN", "types": ["roster.student", "consent.changed"]},
    ]})
    vle, sis = settings.gateway_tokens["uni"]
    assert (vle.name, vle.value.get_secret_value(), vle.types) == (
        "vle", "vle-secret", frozenset({"vle.click"}))
    assert sis.value.get_secret_value() == "sis-secret"
    assert "sis-secret" not in repr(sis)


def test_a_token_whose_value_cannot_be_read_is_a_clear_configuration_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNI_VLE_TOKEN", raising=False)
    settings = settings_with(tmp_path, {"tokens": [
        {"name": "vle", "env": "UNI_VLE_TOKEN", "types": ["vle.click"]}]})
    with pytest.raises(ConfigurationError, match="UNI_VLE_TOKEN is not set"):
        settings.gateway_tokens  # noqa: B018
    missing = settings_with(tmp_path, {"tokens": [
        {"name": "vle", "file": str(tmp_path / "absent"), "types": ["vle.click"]}]})
    with pytest.raises(ConfigurationError, match="cannot read"):
        missing.gateway_tokens  # noqa: B018


def test_a_tenant_says_nothing_and_its_gateway_is_closed() -> None:
    assert TenantConfig().gateway.open is False
    assert TenantConfig().gateway.tokens == ()


@pytest.mark.parametrize("wrong", [
    {"name": "vle", "types": ["vle.click"]},  # no source
    {"name": "vle", "env": "A", "file": "/b", "types": ["vle.click"]},  # two
    {"name": "vle", "env": "A", "types": ["vle.clicks"]},  # no such event type
    {"name": "vle", "env": "A", "types": []},
    {"name": "vle", "env": "A", "types": ["vle.click"], "value": "s3cret"},  # a value
])
def test_a_token_the_tenant_file_may_not_describe_is_refused(wrong: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GatewayToken.model_validate(wrong)


def test_a_token_value_in_the_tenant_file_is_refused() -> None:
    with pytest.raises(ValidationError):
        TenantConfig.model_validate({"gateway_token": "s3cret"})
