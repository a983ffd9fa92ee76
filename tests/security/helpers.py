"""Helpers of the security tests: an app of their own settings on the test's session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.db import get_session, serve_session
from app.main import create_app
from app.settings import Settings


def app_with(session: Session, **settings: Any) -> FastAPI:
    """The service with these settings (limits, sizes), its requests on ``session``."""
    app = create_app(Settings(jobs_scheduler=False, **settings))

    def _session() -> Iterator[Session]:
        yield from serve_session(session)

    app.dependency_overrides[get_session] = _session
    return app


def client_with(session: Session, **settings: Any) -> TestClient:
    # No `with`: the app's startup (the jobs sweeper) must not run.
    return TestClient(app_with(session, **settings))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
