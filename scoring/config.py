"""Per-tenant configuration: time zone, consent mode, coefficients, bands, alert thresholds."""

from __future__ import annotations

import itertools
from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from scoring.consent import ConsentMode
from scoring.rules import RuleThresholds


class Measure(StrEnum):
    ELE_MINUTES = "ele_minutes"
    APP_CHOICES = "app_choices"
    EVENT_CHECKINS = "event_checkins"


class CoefficientSet(BaseModel):
    """Coefficients per college, in force from `valid_from` (the academic year's start) on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    valid_from: date
    colleges: dict[str, dict[Measure, float]]


class Band(BaseModel):
    """A display label: scores below `below` (or any score, when `below` is null)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=32)
    below: float | None = None


class NotifyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_url: str | None = None
    webhook_token: SecretStr | None = None
    email_from: str | None = None
    tutor_emails: dict[str, str] = Field(default_factory=dict)
    digest_seconds: float = Field(default=60.0, gt=0)


DEFAULT_BANDS = (Band(name="low", below=5.0), Band(name="typical", below=15.0), Band(name="high"))


class Role(StrEnum):
    """What a signed-in person may do (see README "Who may see what")."""

    STUDENT = "student"
    TUTOR = "tutor"
    ANALYST = "analyst"
    PRIVACY_OFFICER = "privacy_officer"
    OPERATOR = "operator"


class IdentityConfig(BaseModel):
    """The tenant's OpenID Connect provider, and which claims say who a person is. The client
    secret is never in the tenant file: `client_secret_env` names the environment variable (or
    `client_secret_file` the mounted file) it is read from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(pattern=r"^https?://[^\s]+[^/\s]$")
    client_id: str = Field(min_length=1)
    # The `aud` the engine accepts; the client id unless the provider issues another.
    audience: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    person_claim: str = "sub"
    student_id_claim: str = "student_id"
    staff_id_claim: str = "staff_id"
    roles_claim: str = "roles"
    # The provider's role values, each to the engine's role; a value not here grants nothing.
    role_map: dict[str, Role] = Field(default_factory=dict)

    @property
    def accepted_audience(self) -> str:
        return self.audience or self.client_id


class TenantConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Europe/London"
    consent_mode: ConsentMode = ConsentMode.OPT_IN
    coefficient_sets: tuple[CoefficientSet, ...] = ()
    bands: tuple[Band, ...] = DEFAULT_BANDS
    rules: RuleThresholds = Field(default_factory=RuleThresholds)
    gateway_token: SecretStr | None = None
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    identity: IdentityConfig | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("coefficient_sets")
    @classmethod
    def _sorted_sets(cls, value: tuple[CoefficientSet, ...]) -> tuple[CoefficientSet, ...]:
        return tuple(sorted(value, key=lambda s: s.valid_from))

    @model_validator(mode="after")
    def _bands_ascending(self) -> TenantConfig:
        limits = [b.below for b in self.bands]
        if not limits or limits[-1] is not None or None in limits[:-1]:
            raise ValueError("bands need ascending 'below' limits and a last band without one")
        bounded = [x for x in limits if x is not None]
        if any(lower >= upper for lower, upper in itertools.pairwise(bounded)):
            raise ValueError("band limits must ascend strictly")
        return self


class TenantsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenants: dict[str, TenantConfig]
