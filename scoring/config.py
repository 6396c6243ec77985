"""Per-tenant configuration: time zone, consent mode, coefficients, bands, alert thresholds."""

from __future__ import annotations

import itertools
from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from schemas.topics import TOPIC_FOR_TYPE
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


class GatewayToken(BaseModel):
    """One system's token for the HTTP gateway, and the event types it may send. The value is
    never in the tenant file: `env` names the environment variable (or `file` the mounted file)
    it is read from. Several tokens may name the same types, for rotation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    env: str | None = None
    file: str | None = None
    types: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> GatewayToken:
        if (self.env is None) == (self.file is None):
            raise ValueError(f"gateway token {self.name!r}: give exactly one of env and file")
        unknown = sorted(set(self.types) - set(TOPIC_FOR_TYPE))
        if unknown:
            raise ValueError(f"gateway token {self.name!r}: unknown event types {unknown}")
        return self


class GatewayConfig(BaseModel):
    """Who may write through the HTTP gateway. Without tokens it refuses every write, unless
    `open` says that anyone who can reach it may send anything (a demo on one machine; never a
    real tenant: an open gateway takes consent withdrawals, roster rows and decisions from
    anyone)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    open: bool = False
    tokens: tuple[GatewayToken, ...] = ()


class TenantConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Europe/London"
    consent_mode: ConsentMode = ConsentMode.OPT_IN
    coefficient_sets: tuple[CoefficientSet, ...] = ()
    bands: tuple[Band, ...] = DEFAULT_BANDS
    rules: RuleThresholds = Field(default_factory=RuleThresholds)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
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
