"""The browser session: a signed cookie, its CSRF token, and one-shot notices.

A person signs in by pasting an API token (the same ``pb_...`` tokens the API
takes). The cookie keeps that token, signed with ``settings.secret_key`` so it
cannot be forged or altered, together with a random nonce and the time it was
issued. Every request authenticates the token again through
``app.auth.service.authenticate``: revoking or expiring the token, or
deactivating the user, ends the web session at once, with no second rule to
keep in step. The cookie is HttpOnly (scripts never see the token),
SameSite=Lax, and Secure outside development.

CSRF: every form carries ``csrf_token``, an HMAC of the session's nonce. A
forged cross-site form cannot know it; SameSite=Lax already keeps the cookie off
cross-site POSTs, and the token is the second lock. Anonymous visitors get a
session without a token so the sign-in form is protected too (login CSRF), and
signing in issues a fresh nonce (no session fixation).

The format is ``base64url(JSON) "." base64url(HMAC-SHA256)``; the key is derived
from the secret with a purpose label, so these signatures can never be confused
with any other use of the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.settings import Settings

NOTICE_COOKIE = "poolbuy_notice"
NOTICE_MAX_AGE = 120


def _key(settings: Settings, purpose: str) -> bytes:
    return hashlib.sha256(f"poolbuy-web:{purpose}:{settings.secret_key}".encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, purpose: str, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(_key(settings, purpose), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(settings: Settings, purpose: str, value: str | None) -> dict[str, Any] | None:
    """The payload if ``value`` carries a valid signature, else None."""
    if not value or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    expected = hmac.new(_key(settings, purpose), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


@dataclass(frozen=True)
class WebSession:
    token: str | None
    nonce: str
    issued_at: int

    @property
    def signed_in(self) -> bool:
        return self.token is not None


def new_session(token: str | None = None) -> WebSession:
    return WebSession(token=token, nonce=secrets.token_urlsafe(18), issued_at=int(time.time()))


def read_session(request: Request, settings: Settings) -> WebSession | None:
    """The request's session if its cookie is genuine and not older than the max age."""
    payload = unsign(settings, "session", request.cookies.get(settings.session_cookie_name))
    if payload is None:
        return None
    issued = payload.get("iat")
    nonce = payload.get("n")
    token = payload.get("t")
    if not isinstance(issued, int) or not isinstance(nonce, str):
        return None
    if time.time() - issued > settings.session_max_age_seconds:
        return None
    return WebSession(token if isinstance(token, str) else None, nonce, issued)


def secure_cookies(settings: Settings) -> bool:
    return settings.environment != "development"


def write_session(response: Response, session: WebSession, settings: Settings) -> None:
    value = sign(
        settings, "session", {"t": session.token, "n": session.nonce, "iat": session.issued_at}
    )
    response.set_cookie(
        settings.session_cookie_name,
        value,
        max_age=settings.session_max_age_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
    )


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.session_cookie_name,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
    )


def csrf_token(session: WebSession, settings: Settings) -> str:
    mac = hmac.new(_key(settings, "csrf"), session.nonce.encode(), hashlib.sha256).digest()
    return _b64(mac)


def csrf_valid(session: WebSession | None, presented: str | None, settings: Settings) -> bool:
    if session is None or not presented:
        return False
    return hmac.compare_digest(csrf_token(session, settings), presented)


# ------------------------------------------------------------------------- notices


def set_notice(response: Response, settings: Settings, text: str, kind: str = "ok") -> None:
    """A message for the next page shown (after a redirect): "Need #12 submitted"."""
    response.set_cookie(
        NOTICE_COOKIE,
        sign(settings, "notice", {"text": text, "kind": kind}),
        max_age=NOTICE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
    )


def pop_notice(request: Request, settings: Settings) -> dict[str, str] | None:
    payload = unsign(settings, "notice", request.cookies.get(NOTICE_COOKIE))
    if payload is None or not isinstance(payload.get("text"), str):
        return None
    return {"text": payload["text"], "kind": str(payload.get("kind", "ok"))}


def clear_notice(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        NOTICE_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(settings)
    )
