"""Tokens (hash only, expiry, revocation), 401/403 as problem details, users and agencies."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.auth import cli as auth_cli
from app.auth.models import ApiToken, Role, User
from app.db import utcnow
from tests.factories import make_agency, make_token, make_user, make_user_and_token

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


def _assert_problem(response: object, status: int, detail_part: str = "") -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert detail_part in body.get("detail", "")


# ------------------------------------------------------------------------- 401


def test_me_with_a_valid_token(client: TestClient, session: Session, auth_headers: Headers) -> None:
    iom = make_agency(session, "IOM")
    user, token = make_user_and_token(
        session, Role.local_team, Role.chief_of_mission, agency=iom, email="ana@iom.int"
    )
    response = client.get("/api/v1/me", headers=auth_headers(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == user.id
    assert body["email"] == "ana@iom.int"
    assert body["agency_id"] == "IOM"
    assert body["roles"] == ["chief_of_mission", "local_team"]


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "Authorization"),
        ("Basic dXNlcjpwYXNz", "Authorization"),
        ("Bearer", "Authorization"),
        ("Bearer not-a-token", "malformed"),
        ("Bearer pb_short", "malformed"),
        ("Bearer xx_" + "a" * 43, "malformed"),
        ("Bearer pb_" + "a" * 43, "unknown"),
    ],
)
def test_missing_or_malformed_or_unknown_tokens_are_401(
    client: TestClient, header: str | None, detail: str
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/me", headers=headers)
    _assert_problem(response, 401, detail)
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_expired_token_is_401(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    user = make_user(session, Role.coordinator)
    token = make_token(session, user, expires_at=utcnow() - dt.timedelta(seconds=1))
    _assert_problem(client.get("/api/v1/me", headers=auth_headers(token)), 401, "expired")


def test_a_revoked_token_is_401(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    user = make_user(session, Role.coordinator)
    token = make_token(session, user, revoked=True)
    _assert_problem(client.get("/api/v1/me", headers=auth_headers(token)), 401, "revoked")


def test_a_deactivated_users_token_is_401(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    _, token = make_user_and_token(session, Role.coordinator, active=False)
    _assert_problem(client.get("/api/v1/me", headers=auth_headers(token)), 401, "deactivated")


def test_using_a_token_records_when(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    user, token = make_user_and_token(session, Role.coordinator)
    row = session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert row.last_used_at is None
    version = row.version
    assert client.get("/api/v1/me", headers=auth_headers(token)).status_code == 200
    session.expire_all()
    assert row.last_used_at is not None
    assert row.version == version  # bookkeeping, not a change a client must re-read


# ------------------------------------------------------------------------ tokens


def test_only_the_hash_of_a_new_token_is_stored(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    user, token = make_user_and_token(session, Role.local_team)
    response = client.post(
        "/api/v1/tokens", json={"name": "laptop", "expires_in_days": 7}, headers=auth_headers(token)
    )
    assert response.status_code == 201, response.text
    created = response.json()
    plain = created["token"]
    assert plain.startswith("pb_") and len(plain) == 46
    assert created["prefix"] == plain[:10]
    expires = dt.datetime.fromisoformat(created["expires_at"])
    assert abs(expires - (utcnow() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)

    row = session.get(ApiToken, created["id"])
    assert row is not None
    assert row.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    # The plain token is nowhere in the database: not in any column of any table.
    conn = session.connection()
    for table in ("api_token", "audit_entry", "idempotency_key"):
        for values in conn.execute(sa.text(f"SELECT * FROM {table}")).all():
            assert all(plain not in str(v) for v in values), table
    # ... nor in the listing, and the new token works.
    listed = client.get("/api/v1/tokens", headers=auth_headers(plain)).json()
    owned = set(session.scalars(sa.select(ApiToken.id).where(ApiToken.user_id == user.id)))
    assert {t["id"] for t in listed["items"]} == owned and len(owned) == 2
    assert all("token" not in t and "token_hash" not in t for t in listed["items"])


def test_a_token_request_is_validated(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    _, token = make_user_and_token(session, Role.local_team)
    response = client.post(
        "/api/v1/tokens", json={"name": "", "expires_in_days": 400}, headers=auth_headers(token)
    )
    _assert_problem(response, 422)
    assert {e["path"] for e in response.json()["errors"]} == {"$.name", "$.expires_in_days"}


def test_revoking_ones_own_token_stops_it_at_once(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    user, token = make_user_and_token(session, Role.local_team)
    token_id = session.scalars(sa.select(ApiToken.id).where(ApiToken.user_id == user.id)).one()
    assert (
        client.delete(f"/api/v1/tokens/{token_id}", headers=auth_headers(token)).status_code == 204
    )
    _assert_problem(client.get("/api/v1/me", headers=auth_headers(token)), 401, "revoked")


def test_only_an_admin_revokes_someone_elses_token(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    victim, victim_token = make_user_and_token(session, Role.local_team)
    victim_token_id = session.scalars(
        sa.select(ApiToken.id).where(ApiToken.user_id == victim.id)
    ).one()
    _, other_token = make_user_and_token(session, Role.chief_of_mission)
    _, admin_token = make_user_and_token(session, Role.admin)

    # Someone else's token id is not even confirmed to exist.
    response = client.delete(f"/api/v1/tokens/{victim_token_id}", headers=auth_headers(other_token))
    _assert_problem(response, 404)
    assert client.get("/api/v1/me", headers=auth_headers(victim_token)).status_code == 200

    response = client.delete(f"/api/v1/tokens/{victim_token_id}", headers=auth_headers(admin_token))
    assert response.status_code == 204
    _assert_problem(client.get("/api/v1/me", headers=auth_headers(victim_token)), 401, "revoked")


# ------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"email": "x@example.org", "name": "X", "roles": []}),
        ("GET", "/api/v1/users/1", None),
        ("POST", "/api/v1/agencies", {"id": "NEWAG", "name": "New agency"}),
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/audit/verify", None),
    ],
)
@pytest.mark.parametrize(
    "role", [Role.local_team, Role.technical_specialist, Role.chief_of_mission]
)
def test_routes_refuse_roles_they_are_not_for(
    client: TestClient,
    session: Session,
    auth_headers: Headers,
    method: str,
    path: str,
    body: dict[str, object] | None,
    role: Role,
) -> None:
    _, token = make_user_and_token(session, role)
    response = client.request(method, path, json=body, headers=auth_headers(token))
    _assert_problem(response, 403, "may do this")


def test_a_user_with_several_roles_passes_on_any(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    _, token = make_user_and_token(session, Role.local_team, Role.admin)
    assert client.get("/api/v1/users", headers=auth_headers(token)).status_code == 200


def test_every_user_can_list_the_agencies(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    make_agency(session, "UNHCR")
    _, token = make_user_and_token(session, Role.local_team)
    response = client.get("/api/v1/agencies", headers=auth_headers(token))
    assert response.status_code == 200
    assert "UNHCR" in {a["id"] for a in response.json()["items"]}


# ------------------------------------------------------------------ users, agencies


def test_an_admin_creates_an_agency_and_a_user(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    _, admin_token = make_user_and_token(session, Role.admin)
    headers = auth_headers(admin_token)
    response = client.post(
        "/api/v1/agencies", json={"id": "WFP", "name": "World Food Programme"}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/agencies/WFP"
    assert response.headers["etag"]

    response = client.post(
        "/api/v1/users",
        json={
            "email": "Luis@WFP.org",
            "name": "Luis",
            "agency_id": "WFP",
            "roles": ["local_team", "chief_of_mission"],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "luis@wfp.org"
    assert body["roles"] == ["chief_of_mission", "local_team"]
    user = session.get(User, body["id"])
    assert user is not None and user.role_set == {Role.local_team, Role.chief_of_mission}

    listed = client.get(
        "/api/v1/users", params={"agency_id": "WFP", "role": "local_team"}, headers=headers
    )
    assert [u["id"] for u in listed.json()["items"]] == [body["id"]]


def test_user_creation_problems_are_all_listed(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    _, admin_token = make_user_and_token(session, Role.admin)
    response = client.post(
        "/api/v1/users",
        json={"email": "not-an-email", "name": "", "roles": ["local_team", "pilot"]},
        headers=auth_headers(admin_token),
    )
    _assert_problem(response, 422)
    paths = {e["path"] for e in response.json()["errors"]}
    assert {"$.email", "$.name", "$.roles[1]"} <= paths

    # An agency role needs an agency, and the agency must exist.
    response = client.post(
        "/api/v1/users",
        json={"email": "a@b.org", "name": "A", "roles": ["local_team"]},
        headers=auth_headers(admin_token),
    )
    _assert_problem(response, 422)
    assert response.json()["errors"][0]["path"] == "$.agency_id"
    response = client.post(
        "/api/v1/users",
        json={"email": "a@b.org", "name": "A", "agency_id": "NOPE", "roles": []},
        headers=auth_headers(admin_token),
    )
    _assert_problem(response, 422)


def test_emails_are_unique_whatever_their_case(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    make_user(session, Role.coordinator, email="dup@example.org")
    _, admin_token = make_user_and_token(session, Role.admin)
    response = client.post(
        "/api/v1/users",
        json={"email": "DUP@example.org", "name": "Dup", "roles": ["coordinator"]},
        headers=auth_headers(admin_token),
    )
    _assert_problem(response, 409)


def test_an_admin_deactivates_a_user_with_if_match(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    _, admin_token = make_user_and_token(session, Role.admin)
    target, target_token = make_user_and_token(session, Role.coordinator)
    headers = auth_headers(admin_token)
    etag = client.get(f"/api/v1/users/{target.id}", headers=headers).headers["etag"]
    response = client.patch(
        f"/api/v1/users/{target.id}", json={"active": False}, headers={**headers, "If-Match": etag}
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert response.headers["etag"] != etag
    _assert_problem(
        client.get("/api/v1/me", headers=auth_headers(target_token)), 401, "deactivated"
    )


def test_an_admin_cannot_lock_themselves_out(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    admin, admin_token = make_user_and_token(session, Role.admin)
    headers = auth_headers(admin_token)
    etag = client.get(f"/api/v1/users/{admin.id}", headers=headers).headers["etag"]
    response = client.patch(
        f"/api/v1/users/{admin.id}",
        json={"roles": ["coordinator"]},
        headers={**headers, "If-Match": etag},
    )
    _assert_problem(response, 422)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_sessions(connection: sa.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    monkeypatch.setattr("app.db.get_session_factory", lambda: factory)


@pytest.mark.usefixtures("cli_sessions")
def test_the_cli_creates_the_first_admin_and_a_token(
    session: Session, capsys: pytest.CaptureFixture[str], client: TestClient, auth_headers: Headers
) -> None:
    parser = argparse.ArgumentParser()
    auth_cli.register(parser.add_subparsers())
    args = parser.parse_args(
        ["users", "create", "--email", "Root@Example.org", "--name", "Root", "--role", "admin"]
    )
    assert args.handler(args) == 0
    args = parser.parse_args(["tokens", "create", "--email", "root@example.org", "--days", "7"])
    assert args.handler(args) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("pb_")
    me = client.get("/api/v1/me", headers=auth_headers(token)).json()
    assert me["email"] == "root@example.org" and me["roles"] == ["admin"]


@pytest.mark.usefixtures("cli_sessions")
def test_the_cli_reports_problems_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    auth_cli.register(parser.add_subparsers())
    args = parser.parse_args(
        ["users", "create", "--email", "x@y.org", "--name", "X", "--role", "local_team"]
    )
    assert args.handler(args) == 1
    assert "$.agency_id" in capsys.readouterr().err
    args = parser.parse_args(["tokens", "create", "--email", "nobody@y.org"])
    assert args.handler(args) == 1
    args = parser.parse_args(
        ["users", "create", "--email", "x@y.org", "--name", "X", "--role", "pilot"]
    )
    assert args.handler(args) == 1
    assert "$.roles[0]" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_sessions")
def test_the_poolbuy_command_has_the_operator_subcommands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from app.cli import main

    assert (
        main(["users", "create", "--email", "op@example.org", "--name", "Op", "--role", "admin"])
        == 0
    )
    assert main(["tokens", "create", "--email", "op@example.org"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("pb_")
    target = tmp_path / "fresh" / "poolbuy.db"
    assert main(["db", "upgrade", "--url", f"sqlite:///{target}"]) == 0
    assert target.exists()
    with pytest.raises(SystemExit) as usage_error:
        main(["users"])
    assert usage_error.value.code == 1
