"""Shared fixtures: a database built by the migrations, a rolled-back session per test, a client.

The database is named by ``TEST_DATABASE_URL``:

* unset: a fresh SQLite file in a temporary folder;
* ``postgresql+psycopg://postgres@127.0.0.1:5432/test``: that server, in a new
  database ``poolbuy_test_<random>`` created for this test session and dropped
  after it, so parallel or interrupted runs never share tables.

The schema is made once per test session by running the migrations (never
``create_all``). Each test's ``session`` is joined to an outer transaction
with ``join_transaction_mode="create_savepoint"``: services may ``commit()``
as they do in production, and everything is rolled back after the test.
``client`` sends requests through the app with ``get_session`` bound to that
same session, so a test can look in the database at what a request did.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from app.db import get_session, load_models, make_engine, serve_session, upgrade_database

TEST_DATABASE_URL_ENV = "TEST_DATABASE_URL"

load_models()


class DatabaseFactory:
    """Makes throw-away databases on the server named by TEST_DATABASE_URL, and drops them."""

    def __init__(self, base_url: str | None, workdir: Path) -> None:
        self.base_url = make_url(base_url) if base_url else None
        self.workdir = workdir
        self.created: list[URL] = []

    @property
    def backend(self) -> str:
        return self.base_url.get_backend_name() if self.base_url else "sqlite"

    def create(self) -> str:
        name = f"poolbuy_test_{uuid.uuid4().hex[:12]}"
        if self.base_url is None or self.backend == "sqlite":
            url = make_url(f"sqlite:///{self.workdir / (name + '.db')}")
        elif self.backend == "postgresql":
            with self._server() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            url = self.base_url.set(database=name)
        else:
            raise RuntimeError(f"unsupported {TEST_DATABASE_URL_ENV}: {self.base_url}")
        self.created.append(url)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for url in self.created:
            if url.get_backend_name() == "postgresql":
                with self._server() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        self.created.clear()

    def _server(self) -> sa.Connection:
        # CREATE/DROP DATABASE cannot run inside a transaction.
        assert self.base_url is not None
        engine = sa.create_engine(
            self.base_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
        )
        return engine.connect()


@pytest.fixture(scope="session")
def database_factory() -> Iterator[DatabaseFactory]:
    with tempfile.TemporaryDirectory(prefix="poolbuy-test-") as workdir:
        factory = DatabaseFactory(os.environ.get(TEST_DATABASE_URL_ENV) or None, Path(workdir))
        try:
            yield factory
        finally:
            factory.drop_all()


@pytest.fixture(scope="session")
def database_url(database_factory: DatabaseFactory) -> str:
    """The test session's database, at the head migration."""
    url = database_factory.create()
    upgrade_database(url)
    return url


@pytest.fixture
def isolated_engine(database_factory: DatabaseFactory) -> Iterator[sa.Engine]:
    """A migrated database of this test's own, for tests that need real commits.

    Threads with connections of their own (races, locking) cannot use ``session``:
    its outer transaction is invisible to them and, on SQLite, holds the write lock.
    Nothing here is rolled back; the database is dropped with the test session's.
    """
    url = database_factory.create()
    upgrade_database(url)
    engine = make_engine(url, pool_size=10)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    # The production engine setup (SQLite pragmas, BEGIN IMMEDIATE), not a test variant.
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@pytest.fixture
def session(connection: sa.Connection) -> Iterator[Session]:
    with Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session


def _build_app() -> FastAPI:
    from app.main import create_app

    return create_app()


@pytest.fixture(scope="session")
def app() -> FastAPI:
    return _build_app()


@pytest.fixture
def client(app: FastAPI, session: Session) -> Iterator[TestClient]:
    def _override() -> Iterator[Session]:
        yield from serve_session(session)

    app.dependency_overrides[get_session] = _override
    # The app lives for the whole session, and so would its rate limiters: every
    # test starts with none of the earlier tests' failed tokens counted against it.
    if hasattr(app.state, "limits"):
        del app.state.limits
    try:
        # No `with`: the app's startup (migrating the settings' database) must not run.
        yield TestClient(app)
    finally:
        app.dependency_overrides.pop(get_session, None)


@pytest.fixture
def auth_headers() -> Callable[[str], dict[str, str]]:
    def _headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return _headers
