"""OWASP API2:2023 Broken Authentication: bad tokens, and guessing slowed down.

Tokens: malformed, unknown, expired, revoked, or of a deactivated user, each gets 401
problem details with ``WWW-Authenticate: Bearer``, whatever route it is sent to.
Guessing: ``app.auth.ratelimit`` counts bad tokens per client address; past
``auth_failure_limit`` in the window every request with a token from that address is
429 with ``Retry-After`` (a right token too: checking it would still answer the
guesser), until the window has moved on.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.auth.ratelimit import SlidingWindow
from app.db import utcnow
from tests.factories import make_token, make_user
from tests.security.helpers import bearer, client_with

pytestmark = pytest.mark.integration


def _bad_tokens(session: Session) -> dict[str, str]:
    user = make_user(session, Role.local_team)
    gone = make_user(session, Role.local_team, active=False)
    return {
        "malformed": "not-a-token",
        "wrong prefix": "xx_" + "a" * 43,
        "unknown": "pb_" + "a" * 43,
        "expired": make_token(session, user, expires_at=utcnow() - dt.timedelta(seconds=1)),
        "revoked": make_token(session, user, revoked=True),
        "deactivated user": make_token(session, gone),
    }


@pytest.mark.parametrize("url", ["/api/v1/me", "/api/v1/rounds", "/api/v1/audit"])
def test_every_bad_token_is_401_problem_details(
    url: str, session: Session, client: TestClient
) -> None:
    for why, token in _bad_tokens(session).items():
        response = client.get(url, headers=bearer(token))
        assert response.status_code == 401, (why, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert token not in response.text
    for header in ("Bearer", "Basic dXNlcjpwYXNz", "bearer  ", "Token pb_x"):
        response = client.get(url, headers={"Authorization": header})
        assert response.status_code == 401, header


def test_a_revoked_token_stops_at_once(session: Session, client: TestClient) -> None:
    user = make_user(session, Role.local_team)
    token = make_token(session, user)
    session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    mine = client.get("/api/v1/tokens", headers=bearer(token)).json()["items"]
    revoked = client.delete(f"/api/v1/tokens/{mine[0]['id']}", headers=bearer(token))
    assert revoked.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_guessing_tokens_is_slowed_to_429_then_allowed_again(session: Session) -> None:
    client = client_with(session, auth_failure_limit=3, auth_failure_window_seconds=1.0)
    user = make_user(session, Role.local_team)
    good = make_token(session, user)
    # Committed: a refused request rolls back what the session had not committed.
    session.commit()
    for n in range(3):
        assert client.get("/api/v1/me", headers=bearer(f"pb_{n:043d}")).status_code == 401
    blocked = client.get("/api/v1/me", headers=bearer("pb_" + "b" * 43))
    assert blocked.status_code == 429
    assert blocked.headers["content-type"] == "application/problem+json"
    assert 1 <= int(blocked.headers["retry-after"]) <= 1
    # While blocked, a right token is not even looked at from this address...
    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 429
    # ... nor is anyone stopped who sends no token (nothing to guess there).
    assert client.get("/api/v1/rounds").status_code == 401
    time.sleep(1.05)
    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 200


def test_the_failure_limit_is_per_client_address(session: Session) -> None:
    client = client_with(session, auth_failure_limit=1)
    user = make_user(session, Role.local_team)
    good = make_token(session, user)
    session.commit()
    assert client.get("/api/v1/me", headers=bearer("pb_" + "c" * 43)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 429
    elsewhere = TestClient(client.app, client=("203.0.113.7", 50000))
    assert elsewhere.get("/api/v1/me", headers=bearer(good)).status_code == 200


def test_the_sliding_window_forgets_what_left_it() -> None:
    now = [0.0]
    window = SlidingWindow(limit=2, window=10.0, clock=lambda: now[0])
    assert window.hit("a") is None and window.hit("a") is None
    assert window.hit("a") == pytest.approx(10.0)
    assert window.hit("b") is None
    now[0] = 9.0
    assert window.retry_after("a") == pytest.approx(1.0)
    now[0] = 10.5
    assert window.retry_after("a") is None and window.hit("a") is None


def test_the_sliding_window_holds_a_bounded_number_of_keys() -> None:
    window = SlidingWindow(limit=1, window=60.0, max_keys=100)
    for n in range(1000):
        window.hit(f"client-{n}")
    assert len(window._events) == 100
    assert SlidingWindow(limit=0, window=1.0).hit("x") is None
