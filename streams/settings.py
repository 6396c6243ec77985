"""The typed settings, read from ENGAGE_* variables and the tenant file: the engine's, and the
notifier's mail server."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scoring.config import TenantConfig, TenantsFile
from streams.errors import ConfigurationError

LOCAL_DIR = Path(".local")


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENGAGE_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    # How long the broker may hold a fetch for partitions with nothing new (Faust's own: 1,500).
    kafka_fetch_max_wait_ms: int = Field(default=100, ge=0, le=30_000)
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication: int = Field(default=1, ge=1)

    clickhouse_url: str = Field(
        default_factory=lambda: f"chdb://{(LOCAL_DIR / 'clickhouse').resolve()}",
        description="chdb:///path for the embedded engine, http(s)://host:port/db for a server",
    )
    clickhouse_database: str = "engage"
    clickhouse_user: str | None = None
    clickhouse_password: SecretStr | None = None

    tenant_config: Path = Path("config/tenants.example.yaml")
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    notify_web_port: int = 6067
    data_dir: Path = Field(default_factory=lambda: (LOCAL_DIR / "worker").resolve())
    worker_id: str = "engage-worker"
    # The command line's sign-in, for reads a worker answers: a bearer token from the tenant's
    # provider (without one, the worker's local token; see `streams.access`).
    token: SecretStr | None = None

    lateness_seconds: int = Field(default=600, ge=0)
    max_future_hours: float = Field(default=24.0, gt=0)
    # Catching up, a bigger batch spreads the per-student work (state snapshot, score) over more
    # events; live, batches are cut by `batch_within_seconds` long before this. With the engine
    # in its own process that work no longer holds Faust up, and 5,000 costs no throughput over
    # 10,000 but holds less in flight in both processes (README, Measured).
    batch_max_events: int = Field(default=5_000, ge=1)
    batch_within_seconds: float = Field(default=0.25, gt=0)
    # While more events wait on the broker than a batch holds (catching up), a batch gathers
    # for up to this long, up to `batch_max_events`, before it goes to the engine.
    batch_catch_up_seconds: float = Field(default=2.0, ge=0)
    # Net allocations between young-generation garbage collections (Python's default is 700;
    # see streams.tuning.collector).
    gc_young_threshold: int = Field(default=50_000, ge=100)
    # How often, at most, the worker hands freed memory back to the system after a batch
    # (glibc only; 0: never; see streams.tuning.heap).
    heap_trim_seconds: float = Field(default=1.0, ge=0)
    quiet_check_seconds: float = Field(default=15.0, gt=0)
    rollover_quiet_seconds: float = Field(default=900.0, gt=0)
    rules_settle_seconds: float = Field(default=6 * 3600, ge=0)
    # A partition that delivered within this long may still have events for a day (watermarks).
    partition_idle_seconds: float = Field(default=30.0, ge=0)
    sink_retry_max_seconds: float = Field(default=30.0, gt=0)
    # Ready, idle and with messages waiting this long: /healthz fails (see streams.worker.stall).
    stall_seconds: float = Field(default=120.0, gt=0)
    gateway_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)

    retention_days_activity: int = Field(default=400, ge=1)
    retention_days_measures: int = Field(default=800, ge=1)
    retention_days_dead_letters: int = Field(default=90, ge=1)
    retention_days_attendance: int = Field(default=800, ge=1)
    retention_days_review: int = Field(default=2200, ge=1)

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("ENGAGE_CLICKHOUSE_URL must start with chdb://, http:// or https://")
        return value

    @property
    def embedded_clickhouse(self) -> bool:
        return self.clickhouse_url.startswith("chdb://")

    @cached_property
    def tenants(self) -> dict[str, TenantConfig]:
        return load_tenants(self.tenant_config)

    @cached_property
    def gateway_tokens(self) -> dict[str, list[GatewayKey]]:
        """Per tenant, its gateway tokens with their values, read from the environment or the
        mounted files the tenant file names."""
        return {name: [GatewayKey(token.name, read_secret(token.env, token.file,
                                                          f"gateway token {token.name!r} of "
                                                          f"tenant {name!r}"),
                                  frozenset(token.types))
                       for token in config.gateway.tokens]
                for name, config in self.tenants.items()}

    def kafka_client_options(self) -> dict[str, Any]:
        """Keyword arguments shared by every aiokafka client the engine creates."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap,
            "security_protocol": self.kafka_security_protocol.value,
        }
        if self.kafka_sasl_mechanism is not None:
            options["sasl_mechanism"] = self.kafka_sasl_mechanism.value
            options["sasl_plain_username"] = self.kafka_sasl_username
            if self.kafka_sasl_password is not None:
                options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_security_protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
            )
        return options


@dataclass(frozen=True, slots=True)
class GatewayKey:
    name: str
    value: SecretStr
    types: frozenset[str]


def read_secret(env: str | None, file: str | None, what: str) -> SecretStr:
    """A secret from the environment variable `env` or the file `file` (a mounted Secret)."""
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise ConfigurationError(f"{what}: the environment variable {env} is not set")
        return SecretStr(value)
    assert file is not None
    try:
        value = Path(file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(f"{what}: cannot read {file}: {exc.strerror}") from exc
    if not value:
        raise ConfigurationError(f"{what}: {file} is empty")
    return SecretStr(value)


class SmtpSettings(BaseSettings):
    """The notifier's mail server (`engage notify`), from ENGAGE_SMTP_* variables."""

    model_config = SettingsConfigDict(env_prefix="ENGAGE_SMTP_", frozen=True, extra="ignore")

    host: str | None = None
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False


def load_tenants(path: Path) -> dict[str, TenantConfig]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read tenant file {path}: {exc}") from exc
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return dict(TenantsFile.model_validate(raw).tenants)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"invalid tenant file {path}: {exc}") from exc
