"""OWASP API2:2023 Broken Authentication: bad tokens, and guessing slowed down.

Tokens: malformed, unknown, expired, revoked, or of a deactivated user, each gets 401
problem details with ``WWW-Authenticate: Bearer``, whatever route it is sent to.
Limits (``app.auth.ratelimit``): one bad token repeated from one address past
``auth_failure_limit`` is 429 without a lookup (a broken script); bad tokens of any kind
from one address past ``auth_failure_address_limit`` are 429 instead of 401 (a guesser);
a valid token from that same address is never refused (an office behind one NAT).
``X-Forwarded-For`` counts only from the proxies in ``trusted_proxies``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.auth.ratelimit import SlidingWindow
from app.cli import serve_options
from app.db import utcnow
from app.settings import Settings
from tests.factories import make_token, make_user
from tests.security.helpers import app_with, bearer, client_with

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


def test_a_broken_script_is_stopped_without_locking_out_its_office(session: Session) -> None:
    client = client_with(session, auth_failure_limit=3, auth_failure_address_limit=100)
    colleague = make_token(session, make_user(session, Role.local_team))
    session.commit()
    expired = "pb_" + "e" * 43  # the script's token, long gone
    for _ in range(3):
        assert client.get("/api/v1/me", headers=bearer(expired)).status_code == 401
    blocked = client.get("/api/v1/me", headers=bearer(expired))
    assert blocked.status_code == 429
    assert blocked.headers["content-type"] == "application/problem+json"
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    # The same address: a colleague's valid token works, and another bad token is
    # judged on its own (401, not the script's 429).
    assert client.get("/api/v1/me", headers=bearer(colleague)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer("pb_" + "f" * 43)).status_code == 401
    # From another address the script's token is looked up again.
    elsewhere = TestClient(client.app, client=("203.0.113.7", 50000))
    assert elsewhere.get("/api/v1/me", headers=bearer(expired)).status_code == 401


def test_a_spray_of_bad_tokens_gets_429_but_a_valid_token_still_passes(session: Session) -> None:
    client = client_with(session, auth_failure_limit=5, auth_failure_address_limit=3)
    good = make_token(session, make_user(session, Role.local_team))
    session.commit()
    for n in range(3):
        assert client.get("/api/v1/me", headers=bearer(f"pb_{n:043d}")).status_code == 401
    sprayed = client.get("/api/v1/me", headers=bearer("pb_" + "b" * 43))
    assert sprayed.status_code == 429 and "valid token" in sprayed.json()["detail"]
    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 200
    # Nobody is stopped who sends no token (nothing to guess there).
    assert client.get("/api/v1/rounds").status_code == 401
    elsewhere = TestClient(client.app, client=("203.0.113.7", 50000))
    assert elsewhere.get("/api/v1/me", headers=bearer("pb_" + "c" * 43)).status_code == 401


def _served(session: Session, **settings: Any) -> TestClient:
    """A client of the app as `poolbuy serve` runs it behind uvicorn, from 127.0.0.1."""
    app = app_with(session, auth_failure_address_limit=2, **settings)
    config = uvicorn.Config(app, **serve_options(Settings(**settings)))
    config.load()  # uvicorn's own wrapping: its proxy-headers middleware, or none
    return TestClient(config.loaded_app, client=("127.0.0.1", 40000))


def _statuses(client: TestClient, spoofed: bool) -> list[int]:
    statuses = []
    for n in range(4):
        headers = bearer(f"pb_{n:043d}")
        if spoofed:
            headers["X-Forwarded-For"] = f"198.51.100.{n}"
        statuses.append(client.get("/api/v1/me", headers=headers).status_code)
    return statuses


def test_forwarded_for_does_not_walk_past_the_limits_unless_from_a_trusted_proxy(
    session: Session,
) -> None:
    assert serve_options(Settings())["proxy_headers"] is False
    # Not trusted (the default): every spoofed address is the peer's, 127.0.0.1.
    # No `with`: the app's startup (the jobs sweeper) must not run.
    assert _statuses(_served(session), spoofed=True) == [401, 401, 429, 429]
    # A proxy on 127.0.0.1 named as trusted: its header names the clients.
    behind_proxy = _served(session, trusted_proxies=["127.0.0.1"])
    assert _statuses(behind_proxy, spoofed=True) == [401, 401, 401, 401]
    assert _statuses(behind_proxy, spoofed=False) == [401, 401, 429, 429]


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
