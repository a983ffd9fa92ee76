"""One settings object for the whole service, read from the environment (prefix POOLBUY_)."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POOLBUY_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # SQLite next to the working directory is the embedded default; production sets a
    # postgresql+psycopg:// URL. DATABASE_URL (no prefix) is honoured too, as hosts set it.
    database_url: str = Field(
        default=f"sqlite:///{Path('var/poolbuy.db')}",
        validation_alias="DATABASE_URL",
    )
    # `poolbuy serve` brings the schema to the newest migration before serving, so
    # the embedded SQLite database is made on first start; a deployment that runs
    # `poolbuy db upgrade` as its own step turns this off.
    auto_migrate: bool = True
    # Each process's database connections: a pool of db_pool_size, up to db_max_overflow
    # more for what runs beside the requests. As many requests as the pool's size are at
    # work at once (app.middleware.RequestSlots); the rest wait their turn, up to
    # request_slot_wait_seconds, then answer 503.
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    request_slot_wait_seconds: float = Field(default=30.0, gt=0)
    secret_key: str = DEFAULT_SECRET
    # Largest request body the API reads; a 50 MB problem document is refused with 413.
    max_body_bytes: int = 20 * 1024 * 1024
    # Ceiling on any solve's time limit, whatever the document asks for.
    max_solve_seconds: float = 300.0
    # Processes used for the stand-alone baselines; 0 = one per core.
    solver_workers: int = 0
    default_page_size: int = 50
    max_page_size: int = 500
    cors_origins: list[str] = []
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto `poolbuy serve` trusts
    # (addresses or CIDR networks, e.g. ["10.0.0.5"]). Empty: the TCP peer is the client,
    # and the header is ignored, so it cannot walk past the rate limits.
    trusted_proxies: list[str] = []
    # Abuse limits (app.auth.ratelimit), per process; 0 turns one off. Times one bad
    # token may be presented from one address per window before it gets 429 unlooked-up;
    # bad tokens of any kind from one address per window before failures get 429 (a
    # valid token is never refused by these two); requests one token may make per
    # window (generous: a person clicking never meets it; a runaway script does. Load
    # tests turn it off or use many tokens).
    auth_failure_limit: int = Field(default=20, ge=0)
    auth_failure_address_limit: int = Field(default=200, ge=0)
    auth_failure_window_seconds: float = Field(default=60.0, gt=0)
    token_rate_limit: int = Field(default=1200, ge=0)
    token_rate_window_seconds: float = Field(default=60.0, gt=0)

    # --- Web pages and data exchange (app.web, app.exchange) ---
    # The browser session: a signed cookie (settings.secret_key) holding the API
    # token the person signed in with, so revoking or expiring the token ends it too.
    session_cookie_name: str = "poolbuy_session"
    session_max_age_seconds: int = 8 * 3600
    # Spreadsheet and HXL uploads: rows a file may hold (the byte limit is max_body_bytes).
    upload_max_rows: int = 20_000
    # OCDS: the ocid prefix the publisher registered, and the procuring entity used
    # when the round's creator acts for no agency.
    ocds_ocid_prefix: str = "ocds-poolbuy"
    coordinating_agency: str = "OCHA"
    # The group's time zone: OCDS dates and the dates shown on the pages.
    timezone: str = "America/Panama"

    # --- background jobs (app.jobs): solves, scenarios, schedules ------------------------
    # "embedded": a process pool inside the service, nothing else to run (SQLite works).
    # "broker": jobs go to RabbitMQ and `poolbuy worker` processes, on any number of
    # machines sharing this database (PostgreSQL) and this broker, solve them.
    jobs_backend: Literal["embedded", "broker"] = "embedded"
    # Solving processes of the embedded pool; 0 = one per core but one (at least one).
    jobs_embedded_workers: int = Field(default=0, ge=0)
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    jobs_queue: str = Field(default="poolbuy.jobs", pattern=r"^[A-Za-z0-9_.:-]{1,200}$")
    # How long a close or re-run request waits for its solve before answering with the
    # run still queued or running (`Prefer: wait=N` asks for another wait, up to the max).
    jobs_wait_seconds: float = Field(default=10.0, ge=0)
    jobs_max_wait_seconds: float = Field(default=60.0, ge=0)
    # A worker renews its lease on a job every heartbeat; a lease not renewed for this
    # long means the worker died, and the job is taken over by another.
    jobs_lease_seconds: float = Field(default=30.0, gt=0)
    jobs_heartbeat_seconds: float = Field(default=2.0, gt=0)
    # Attempts before a job that keeps losing its worker is failed.
    jobs_max_attempts: int = Field(default=5, ge=1)
    # Whether this process fires round schedules and re-dispatches stranded jobs (one
    # process at a time does, under a database lease), and how often it looks.
    jobs_scheduler: bool = True
    jobs_scheduler_interval_seconds: float = Field(default=5.0, gt=0)
    # Solving processes run at this lower CPU priority, so the API on the same machine
    # keeps answering while they solve.
    jobs_worker_nice: int = Field(default=10, ge=0, le=19)
    jobs_max_scenarios_per_run: int = Field(default=50, ge=1)

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> "Settings":
        if self.environment == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError("POOLBUY_SECRET_KEY must be set to a real secret in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
