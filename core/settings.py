"""Every setting the engine reads, in one place: environment variables plus the config file."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from core.config import EngineConfig, load_config
from core.tracing import TracingMode

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///.lifecycle/lifecycle.db"


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


class Settings(BaseSettings):
    """Read from the environment (upper-case names); nothing is read at import time."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    lifecycle_config: Path = REPO_ROOT / "lifecycle.toml"
    database_url: str = DEFAULT_SQLITE_URL
    # Segregation of duties (PostgreSQL): `lifecycle migrate` connects with this URL (the
    # role that owns the tables and the ledger's trigger) when set, else DATABASE_URL; with
    # an app role named, it grants that role what the API and worker need (db/roles.py).
    lifecycle_migrate_database_url: str | None = None
    lifecycle_database_app_role: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = "subscriptions"
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None
    # Rotating the webhook secret: the secret being retired is accepted too until
    # STRIPE_WEBHOOK_SECRET_PREVIOUS_UNTIL (an ISO 8601 time with its offset), never after,
    # nor without that time (see docs/incident-response.md).
    stripe_webhook_secret_previous: str | None = None
    stripe_webhook_secret_previous_until: datetime | None = None
    sendgrid_api_key: str | None = None
    sendgrid_api_host: str | None = None
    lifecycle_email_from: str = "billing@example.com"
    # With the payment simulator: deliver again, with backoff, the events a request could
    # not feed to the engine (as Stripe retries webhooks). Tests that hold events back to
    # deliver them in an order of their own turn it off.
    lifecycle_simulator_redelivery: bool = True
    # SendGrid sends are held this long in a cancellable batch, so an attempt a crash left
    # unconfirmed is cancelled before the email goes again (exactly once). SendGrid honours a
    # cancellation until 10 minutes before the send: under ~11 minutes there is no time to.
    # 0: delivered at once, at least once (see services/email_dispatch.py).
    lifecycle_email_hold_seconds: float = 900.0
    # Serve usage ingestion and entitlement checks in front of the framework (api.usage.hot);
    # off: the framework's routes serve them (same answers, about twice the CPU per call).
    lifecycle_hot_routes: bool = True
    # Serve Prometheus metrics at GET /metrics (no key: put it behind the network's rules).
    lifecycle_metrics_enabled: bool = True
    # OpenTelemetry traces from API through workflow to activity (core.tracing): off,
    # otlp (OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318) or console.
    lifecycle_tracing: TracingMode = "off"
    # host:port where the worker serves its metrics (the engine's counters: emails,
    # charges); empty: none. The Temporal SDK's own runtime metrics (task slots, polls,
    # latencies) on LIFECYCLE_TEMPORAL_METRICS_ADDRESS; empty: off.
    lifecycle_worker_metrics_address: str = ""
    lifecycle_temporal_metrics_address: str = ""
    # An email attempt with no recorded outcome after this long died with its process.
    lifecycle_email_stale_seconds: float = 60.0
    # Who deployed this process's config (a CI job, a person): recorded with each config
    # version it loads (GET /v1/admin/config-versions); unset: unknown.
    lifecycle_deployed_by: str | None = None
    # Where this API is reachable from browsers (simulator checkout pages, links).
    lifecycle_public_url: str = "http://127.0.0.1:8000"
    # Signs the /admin dashboard's session cookies; derived from other settings when unset.
    lifecycle_session_secret: str | None = None
    lifecycle_app_api_keys: str | None = None
    # Ledger anchoring: a signed checkpoint of the chain head written daily (and by
    # `lifecycle audit anchor`) as JSON files to this directory (a mounted object store or
    # write-once volume: somewhere the database's superuser cannot write). The Ed25519
    # private key (base64 of 32 raw bytes, or PEM; `lifecycle audit anchor-key` makes one)
    # signs; verifying needs only the public key, derived from it or given alone.
    lifecycle_anchor_dir: Path | None = None
    lifecycle_anchor_signing_key: str | None = None
    lifecycle_anchor_public_key: str | None = None
    # Access review: a live key not used for this many days (or never, when older) is
    # flagged by `lifecycle keys review` and GET /v1/admin/security/keys.
    lifecycle_key_unused_days: int = 90
    # Failed authentications one address may make per window before the API answers 429
    # (counted in each API process's memory; 0: no limit).
    lifecycle_auth_failure_limit: int = 20
    lifecycle_auth_failure_window_seconds: float = 300.0
    lifecycle_admin_api_keys: str | None = None
    # Only `lifecycle dev` uses these: the Temporal CLI that runs the embedded dev server.
    lifecycle_tools_cache: Path = Path.home() / ".cache" / "lifecycle-engine"
    lifecycle_temporal_cli: Path | None = None
    # Worker sizing; unset: the defaults in workers/tuning.py (see "Sizing workers").
    lifecycle_worker_cached_workflows: int | None = None
    lifecycle_worker_workflow_tasks: int | None = None
    lifecycle_worker_activities: int | None = None
    # On SIGTERM the worker stops polling and gives running activities this long to finish
    # before they are cancelled (and retried by another worker); keep it under the
    # platform's termination grace period (Kubernetes: 30 s by default, the chart's 60 s).
    lifecycle_worker_shutdown_grace_seconds: float | None = None

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or "localhost:7233"

    @property
    def public_base_url(self) -> str:
        return self.lifecycle_public_url.rstrip("/")

    @property
    def uses_payment_simulator(self) -> bool:
        return not self.stripe_api_key

    @property
    def temporal_cli(self) -> Path:
        return self.lifecycle_temporal_cli or self.lifecycle_tools_cache / "bin" / "temporal"

    @property
    def app_api_keys(self) -> tuple[str, ...]:
        return _split(self.lifecycle_app_api_keys)

    @property
    def admin_api_keys(self) -> tuple[str, ...]:
        return _split(self.lifecycle_admin_api_keys)

    @property
    def has_api_keys(self) -> bool:
        return bool(self.app_api_keys or self.admin_api_keys)

    @cached_property
    def engine_config(self) -> EngineConfig:
        return load_config(self.lifecycle_config)
