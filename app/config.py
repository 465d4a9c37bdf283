"""Runtime configuration, read once from the environment (prefix ``KILOWATCH_``).

The two URLs decide the runtime mode: with ``REDIS_URL`` unset the service runs embedded (in-process
jobs and events); with it set, jobs go to ARQ workers and events through Redis pub/sub.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./kilowatch.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KILOWATCH_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    #: First part of every Redis key, queue and channel name, so several deployments (or test runs) can
    #: share one Redis without seeing each other's jobs, events or rate-limit counters.
    redis_prefix: str = Field(default="kilowatch", pattern=r"^[A-Za-z0-9_.-]+$")
    log_level: str = "INFO"
    #: Largest ``ingestReadings`` batch; larger loads go through ``kilowatch import``.
    max_ingest_batch: int = Field(default=50_000, gt=0)
    #: Clock-skew tolerance of ingest: a reading stamped later than now plus this many seconds is refused
    #: (a meter with a wrong clock or time zone), whichever way it arrives (API or CSV import).
    future_tolerance_s: float = Field(default=300.0, ge=0)
    #: Largest request body; larger ones are refused (413) before they are read. A full ingestReadings
    #: batch (50,000 readings, every field written out) is ~8 MB of JSON.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    #: Upper bound for every ``limit`` argument of list queries.
    max_list_limit: int = Field(default=1_000, gt=0)
    #: Most points a trend query returns; longer histories are bucketed on the server.
    max_trend_points: int = Field(default=500, gt=1)
    #: GraphQL operation limits, enforced before execution.
    max_query_depth: int = Field(default=10, gt=0)
    max_aliases: int = Field(default=30, gt=0)
    #: Fields one document selects once its fragments are expanded (a fragment spread twice counts twice).
    max_fields: int = Field(default=1_000, gt=0)
    #: Lexical tokens and characters of one document, both bounding what parsing costs (graphql_schema/engine/
    #: limits.py): the standard introspection queries have ~190 tokens and ~2,100 characters, the dashboard's
    #: operations fewer. At 5,000 tokens the worst documents took 50-70 ms of CPU to refuse, at 2,000 under 35.
    max_tokens: int = Field(default=2_000, gt=0)
    max_document_length: int = Field(default=65_536, gt=0)
    #: Training jobs (docs/architecture.md): a running job writes a heartbeat every JOB_HEARTBEAT_S; the sweeper,
    #: every SWEEP_INTERVAL_S, fails running jobs silent for JOB_STALE_AFTER_S and re-enqueues lost
    #: pending ones; JOB_TIMEOUT_S bounds one training.
    job_heartbeat_s: float = Field(default=5.0, gt=0)
    job_stale_after_s: float = Field(default=120.0, gt=0)
    sweep_interval_s: float = Field(default=60.0, gt=0)
    job_timeout_s: float = Field(default=1800.0, gt=0)
    #: Most recent history a model is trained on.
    training_window_days: int = Field(default=365, gt=0)
    #: When every series with enough data is retrained: "<day> HH:MM" (UTC), day = mon..sun or daily; "off" disables.
    retrain_schedule: str = "mon 03:00"
    #: Training jobs one worker process runs at once (fits are CPU-bound; scale with processes).
    worker_concurrency: int = Field(default=1, gt=0)
    #: How often an idle worker polls Redis for new jobs; bounds trigger-to-RUNNING latency.
    worker_poll_delay_s: float = Field(default=0.05, gt=0)
    #: How often every champion is evaluated on its newest readings (rounded to a clock-dial cron in workers).
    monitoring_interval_s: float = Field(default=3600.0, gt=0)
    #: How often running A/B tests are evaluated (each evaluation is one look of the test) and expired ones completed.
    ab_test_interval_s: float = Field(default=60.0, gt=0)
    #: Alert webhooks: receivers (comma-separated URLs), HMAC-SHA256 secret, delivery round interval.
    webhook_urls: Annotated[list[str], NoDecode] = []
    webhook_secret: str | None = None
    webhook_interval_s: float = Field(default=10.0, gt=0)
    #: ``off`` is for local development only: every caller acts as an administrator, and ``kilowatch serve``
    #: refuses to listen on anything but a loopback address.
    auth: Literal["on", "off"] = "on"
    #: Calls per token and minute of the two expensive mutations; shared through Redis when it is configured.
    rate_limit_retrain_per_minute: int = Field(default=10, gt=0)
    rate_limit_predict_per_minute: int = Field(default=600, gt=0)
    #: Origins of a separately hosted dashboard allowed to call the API from a browser (comma-separated).
    cors_origins: Annotated[list[str], NoDecode] = []
    #: Schema introspection, which GraphiQL needs; switch it off where the schema should not be browsable.
    introspection: bool = True
    #: Also accept the legacy ``graphql-ws`` websocket protocol (subscriptions-transport-ws, Apollo's old
    #: client) beside ``graphql-transport-ws``; off unless an old client needs it.
    legacy_graphql_ws: bool = False

    @field_validator("cors_origins", "webhook_urls", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @cached_property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``: the few places that need dialect-specific SQL branch on this."""
        return make_url(self.database_url).get_backend_name()

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    def redis_name(self, name: str) -> str:
        """The Redis key, queue or channel called ``name`` in this deployment's namespace."""
        return f"{self.redis_prefix}:{name}"
