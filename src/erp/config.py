from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service, read from `ERP_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ERP_", env_file=".env", extra="ignore")

    # No URL: an embedded PostgreSQL is started in `data_dir`.
    database_url: str | None = None
    data_dir: Path = Path(".erp")
    # Connections per worker process. Overflow connections are opened and closed per burst (a TCP and
    # auth handshake each time), so the default is a fixed pool that requests queue for.
    pool_size: int = 20
    pool_max_overflow: int = 0
    pool_timeout_seconds: float = 5.0
    statement_timeout_ms: int = 15_000
    lock_timeout_ms: int = 5_000
    # `transaction`: ERP_DATABASE_URL (and ERP_READ_DATABASE_URL) lead to a pooler in transaction mode
    # (pgbouncer), so nothing may rely on a session: README, "Running more than one process".
    database_pooler: Literal["none", "transaction"] = "none"
    # Straight to the primary, for what needs a session of its own (migrations); default ERP_DATABASE_URL.
    direct_database_url: str | None = None
    # A streaming standby for reads that tolerate staleness (never older than the reader's own writes);
    # one further behind the primary than `read_max_lag_seconds`, or down, is skipped.
    read_database_url: str | None = None
    read_max_lag_seconds: float = Field(default=2.0, gt=0, le=300)

    # Idempotency records are replayed for this long, then ignored and purged.
    idempotency_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 365)
    # A key revoked (or changed) stops working in every process after at most this long.
    auth_cache_seconds: float = Field(default=1.0, ge=0)
    # Receipts may exceed a purchase-order line's quantity by at most this share (5.0 = 5%).
    receipt_tolerance_percent: float = 5.0
    # Orders with more customer contacts than this are flagged in the status view.
    touch_threshold: int = 3
    # Connection limits of `erp serve` (README, "Limits").
    keep_alive_seconds: float = Field(default=5.0, gt=0, le=300)
    request_head_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    limit_concurrency: int = Field(default=2000, ge=1)
    graceful_shutdown_seconds: int = Field(default=10, ge=0)
    # A dead embedded PostgreSQL is started again; if that fails for this long, `erp serve` exits (status 1).
    embedded_restart_seconds: float = Field(default=30.0, gt=0)
    # Encrypts secrets the service reads back (webhook signing secrets); unset: a key file in `data_dir`.
    secret_key: str | None = None
    # Webhooks: one attempt's timeout, how long a delivery is retried, and whether endpoints on private or
    # loopback addresses may be called (off: a webhook could otherwise probe the internal network).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    # The first retry waits this long, each next one twice as long (at most an hour), with jitter.
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0, le=3600)
    webhooks_allow_private: bool = False
    # `erp serve` runs the worker (webhook deliveries, hold expiry) in each of its processes; turn it off
    # when `erp worker` runs on its own.
    worker_in_serve: bool = True
    # GET /metrics answers the machine itself only, unless this opens it to every address.
    metrics_public: bool = False
    log_level: str = "INFO"
    access_log: bool = True


@lru_cache
def get_settings() -> Settings:
    return Settings()
