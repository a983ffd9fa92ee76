"""The embedded SQLite database runs out of disk, or its filesystem turns read-only.

Wanted: a clear answer (507 problem details for a full disk, 503 for a read-only
database), never a 500, never a corrupt file; what was acknowledged before is still
there, and the service takes writes again once there is room (or the filesystem is
writable again), without a restart.

The real thing where the machine allows it: a 2 MB tmpfs mounted for the test (root
only), filled up, then remounted read-only. Where it cannot be mounted, the full disk is
simulated by SQLite itself (``PRAGMA max_page_count``, the same SQLITE_FULL error), and
the read-only case by opening the file read-only (``mode=ro``); the test says which.
These run on SQLite whatever ``TEST_DATABASE_URL`` says: they are about the file.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.db import get_session, make_engine, open_session, upgrade_database
from app.errors import PROBLEM_JSON
from app.needs.models import Need
from tests.factories import make_agency, make_item, make_location, make_round, make_user_and_token

pytestmark = pytest.mark.integration

TMPFS_SIZE = "2m"


@contextlib.contextmanager
def tmpfs(path: Path, medium: str) -> Iterator[bool]:
    """A tiny tmpfs at ``path`` for medium "tmpfs" (skipped where mounting is refused), a
    plain folder for "simulated"; yields whether it is mounted."""
    path.mkdir()
    mounted = (
        medium == "tmpfs"
        and os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(path)],
            capture_output=True,
        ).returncode
        == 0
    )
    if medium == "tmpfs" and not mounted:
        pytest.skip(
            "cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN); the simulated case ran"
        )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


@dataclass
class World:
    url: str
    engine: sa.Engine
    app: FastAPI
    token: str
    round_id: int
    item_id: str
    location_id: str


def build(url: str, **engine_kwargs: Any) -> World:
    from app.main import create_app

    upgrade_database(url)
    engine = make_engine(url, **engine_kwargs)
    with Session(engine, expire_on_commit=False) as session:
        agency = make_agency(session)
        _, token = make_user_and_token(session, Role.local_team, agency=agency)
        item, location, round_ = make_item(session), make_location(session), make_round(session)
        session.commit()
    factory = sessionmaker(bind=engine, expire_on_commit=False)

    def session_for_this_file() -> Iterator[Session]:
        yield from open_session(factory)

    app = create_app()
    app.dependency_overrides[get_session] = session_for_this_file
    return World(url, engine, app, token, round_.id, item.id, location.id)


def submit(client: TestClient, world: World, n: int) -> Any:
    return client.post(
        f"/api/v1/rounds/{world.round_id}/needs",
        json={
            "item_id": world.item_id,
            "location_id": world.location_id,
            "quantity": n + 1,
            # Fat rows, so the disk fills in a few dozen submissions.
            "justification": f"need {n}: " + "x" * 1900,
            "priority": "normal",
            "need_by": "2099-12-20",
            "submit": True,
        },
        headers={"Authorization": f"Bearer {world.token}"},
    )


def integrity(url: str) -> str:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar())
    finally:
        engine.dispose()


def stored_quantities(url: str) -> list[int]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(sa.select(Need.quantity)).scalars())
    finally:
        engine.dispose()


def fill_until_refused(
    client: TestClient, world: World, limit: int = 2000
) -> tuple[list[int], Any]:
    acknowledged = []
    for n in range(limit):
        response = submit(client, world, n)
        if response.status_code != 201:
            return acknowledged, response
        acknowledged.append(n + 1)
    raise AssertionError(f"{limit} submissions and the disk is still not full")


def assert_problem(response: Any, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status and words in body["detail"]
    assert "Traceback" not in response.text and "sqlite" not in response.text.lower()


# The simulated disk's size in pages, read by every new connection.
limit: dict[str, int] = {"pages": 0}


def cap_pages(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA max_page_count={limit['pages']}")


MEDIA = pytest.mark.parametrize("medium", ["tmpfs", "simulated"])


@MEDIA
def test_a_full_disk_gives_507_and_an_intact_file_then_writes_resume(
    tmp_path: Path, medium: str
) -> None:
    with tmpfs(tmp_path / "disk", medium) as mounted:
        url = f"sqlite:///{tmp_path / 'disk' / 'poolbuy.db'}"
        if mounted:
            world = build(url)
            filler = tmp_path / "disk" / "filler"
            # Take what room is left but a little, so the database's next pages do not fit.
            free = os.statvfs(filler.parent).f_bavail * os.statvfs(filler.parent).f_frsize
            filler.write_bytes(b"\0" * max(free - 64 * 1024, 0))
        else:
            world = build(url)
            # No mount here: SQLite's own page limit raises the same SQLITE_FULL.
            with world.engine.connect() as conn:
                limit["pages"] = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0) + 8
            event.listen(world.engine, "connect", cap_pages)
            world.engine.dispose()
        client = TestClient(world.app)
        try:
            acknowledged, refused = fill_until_refused(client, world)
            assert_problem(refused, 507, "disk is full")
            # Reads still work on a full disk.
            listing = client.get(
                f"/api/v1/rounds/{world.round_id}/needs",
                headers={"Authorization": f"Bearer {world.token}"},
            )
            assert listing.status_code in (200, 503), listing.text
            assert integrity(url) == "ok"
            assert stored_quantities(url) == acknowledged

            # Room again: the next submission goes through, without a restart.
            if mounted:
                filler.unlink()
            else:
                limit["pages"] = 1_000_000
                world.engine.dispose()
            again = submit(client, world, 9999)
            assert again.status_code == 201, again.text
            assert integrity(url) == "ok"
            assert stored_quantities(url) == sorted([*acknowledged, 10000])
        finally:
            world.engine.dispose()


@MEDIA
def test_a_read_only_database_gives_503_and_writes_resume_when_writable(
    tmp_path: Path, medium: str
) -> None:
    with tmpfs(tmp_path / "disk", medium) as mounted:
        path = tmp_path / "disk" / "poolbuy.db"
        url = f"sqlite:///{path}"
        world = build(url)
        client = TestClient(world.app)
        first = submit(client, world, 0)
        assert first.status_code == 201, first.text
        if mounted:
            world.engine.dispose()
            remount(tmp_path / "disk", "ro")
            app_world = world
        else:
            # No mount: the same file opened read-only, as a service given a read-only copy.
            app_world = build_read_only(url, world)
        try:
            ro_client = TestClient(app_world.app)
            refused = submit(ro_client, app_world, 1)
            assert refused.status_code == 503, refused.text
            assert_problem(refused, 503, "")
            # Reads too may fail (a WAL database cannot even be opened on a read-only
            # filesystem): a 503 as well, never a 500.
            read = ro_client.get(
                f"/api/v1/rounds/{app_world.round_id}/needs",
                headers={"Authorization": f"Bearer {app_world.token}"},
            )
            assert read.status_code in (200, 503), read.text
        finally:
            if mounted:
                app_world.engine.dispose()
                remount(tmp_path / "disk", "rw")
            elif app_world is not world:
                app_world.engine.dispose()
        again = submit(client, world, 2)
        assert again.status_code == 201, again.text
        assert stored_quantities(url) == [1, 3]
        assert integrity(url) == "ok"
        world.engine.dispose()


def build_read_only(url: str, world: World) -> World:
    from app.main import create_app

    path = url.removeprefix("sqlite:///")
    engine = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    factory = sessionmaker(bind=engine, expire_on_commit=False)

    def read_only_session() -> Iterator[Session]:
        yield from open_session(factory)

    app = create_app()
    app.dependency_overrides[get_session] = read_only_session
    return World(url, engine, app, world.token, world.round_id, world.item_id, world.location_id)
