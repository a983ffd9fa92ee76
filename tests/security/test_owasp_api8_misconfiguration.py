"""OWASP API8:2023 Security Misconfiguration.

* errors never show a traceback, a file name or the exception's text, 500s included;
* every response carries the security headers, errors and 500s included;
* CORS is closed unless origins are configured, and then open to those only;
* the service refuses to start in production with the default secret.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.middleware import DEFAULT_SECURITY_HEADERS
from app.settings import DEFAULT_SECRET, Settings
from tests.factories import make_token, make_user
from tests.security.helpers import app_with, bearer

pytestmark = pytest.mark.integration

LEAKS = ("Traceback", 'File "', "line ", "sqlalchemy", "psycopg", "sqlite3", "/work/", ".py")


def _app_that_fails(session: Session, **settings: object) -> FastAPI:
    app = app_with(session, **settings)

    def boom() -> None:
        raise RuntimeError("secret detail: password=hunter2 at /srv/poolbuy/app.py line 3")

    # A route that fails as an unexpected bug would, to see what a client gets.
    app.add_api_route("/api/v1/boom", boom, methods=["GET"])
    return app


def _assert_secure_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in DEFAULT_SECURITY_HEADERS:
        if name == "Content-Security-Policy" and "text/html" in headers.get("content-type", ""):
            assert headers.get(name), name  # pages and /docs carry their own policy
            continue
        assert headers.get(name) == value, (name, headers.get(name))


def test_errors_show_no_stack_and_carry_the_security_headers(session: Session) -> None:
    client = TestClient(
        _app_that_fails(session, max_body_bytes=1_000), raise_server_exceptions=False
    )
    token = make_token(session, make_user(session, Role.local_team))
    session.commit()
    token_free = {
        "500": client.get("/api/v1/boom"),
        "404": client.get("/api/v1/nothing-here"),
        "405": client.put("/api/v1/rounds"),
        "401": client.get("/api/v1/me"),
        "401 bad token": client.get("/api/v1/me", headers={"Authorization": "Bearer x"}),
        "413": client.post(
            "/api/v1/solve", content=b"x" * 2_000, headers={"content-type": "application/json"}
        ),
        "422": client.get("/api/v1/rounds/not-a-number", headers=bearer(token)),
        "200": client.get("/healthz"),
    }
    for name, response in token_free.items():
        expected = int(name.split()[0])
        assert response.status_code == expected, (name, response.text)
        _assert_secure_headers(response)
        if expected >= 400:
            assert response.headers["content-type"] == "application/problem+json", name
            for leak in LEAKS:
                assert leak not in response.text, (name, leak, response.text)
    assert "hunter2" not in token_free["500"].text
    assert token_free["500"].json() == {
        "type": "about:blank",
        "title": "Internal server error",
        "status": 500,
        "instance": "/api/v1/boom",
    }


def test_web_pages_and_docs_have_their_own_strict_policy(client: TestClient) -> None:
    for url in ("/docs", "/sign-in"):
        response = client.get(url)
        policy = response.headers["content-security-policy"]
        assert "unsafe-eval" not in policy and "frame-ancestors 'none'" in policy, url
        assert response.headers["x-frame-options"] == "DENY"


def test_cors_is_closed_by_default(client: TestClient) -> None:
    preflight = client.options(
        "/api/v1/rounds",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_only_the_configured_origins(session: Session) -> None:
    client = TestClient(app_with(session, cors_origins=["https://poolbuy.example"]))
    allowed = client.options(
        "/api/v1/rounds",
        headers={"Origin": "https://poolbuy.example", "Access-Control-Request-Method": "GET"},
    )
    assert allowed.headers["access-control-allow-origin"] == "https://poolbuy.example"
    refused = client.options(
        "/api/v1/rounds",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
    assert refused.headers.get("access-control-allow-origin") != "*"


@pytest.mark.unit
def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="POOLBUY_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError):
        Settings(environment="production", secret_key=DEFAULT_SECRET)
    assert Settings(environment="production", secret_key="s3cr3t-" * 6).environment == "production"


@pytest.mark.unit
def test_production_refuses_the_default_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.main import create_app

    monkeypatch.setenv("POOLBUY_ENVIRONMENT", "production")
    monkeypatch.delenv("POOLBUY_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError):
        create_app(Settings())
