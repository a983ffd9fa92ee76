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

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> "Settings":
        if self.environment == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError("POOLBUY_SECRET_KEY must be set to a real secret in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
