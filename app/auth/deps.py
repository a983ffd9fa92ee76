"""Who is calling: ``CurrentUser`` (401 unless a valid bearer token) and ``require_roles`` (403).

How a domain route uses it::

    from app.auth.deps import CurrentUser, require_roles
    from app.auth.models import Role

    Coordinator = Annotated[User, Depends(require_roles(Role.coordinator))]

    @router.post("/rounds/{round_id}/close")
    def close_round(round_id: int, session: SessionDep, user: Coordinator) -> RoundRead: ...

    @router.get("/needs/{need_id}")
    def read_need(need_id: int, session: SessionDep, user: CurrentUser) -> NeedRead:
        ...   # object-level checks (own agency, drafts) belong in the service

``require_roles`` checks the role only; which agency's objects the user may
touch is the domain service's business (``user.agency_id``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.auth.ratelimit import Limits, SlidingWindow, too_many_failures
from app.auth.service import authenticate, hash_token
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized
from app.settings import Settings, get_settings

# auto_error=False: a missing or non-Bearer header reaches us, and gets our
# RFC 9457 401 instead of FastAPI's plain 403.
_bearer = HTTPBearer(auto_error=False, description="an API token: 'Bearer pb_...'")


def limits_of(request: Request, settings: Settings | None = None) -> Limits:
    """The app's limiters, made on first use from the app's settings (``settings``, or
    those the app's routes get)."""
    limits: Limits | None = getattr(request.app.state, "limits", None)
    if limits is None:
        settings = settings or _app_settings(request)
        window = settings.auth_failure_window_seconds
        limits = Limits(
            SlidingWindow(settings.auth_failure_limit, window),
            SlidingWindow(settings.auth_failure_address_limit, window),
            SlidingWindow(settings.token_rate_limit, settings.token_rate_window_seconds),
        )
        request.app.state.limits = limits
    return limits


def authenticate_limited(
    request: Request, session: Session, token: str, settings: Settings | None = None
) -> User:
    """``authenticate`` under the limits of ``app.auth.ratelimit``: the API's and the pages'.

    A valid token always passes (up to its own request rate); a bad one is counted
    against its address, and refused without a lookup once it failed too often.
    """
    limits = limits_of(request, settings)
    # The TCP peer, or the client a trusted proxy names (app.cli.serve_options).
    client = request.client.host if request.client else "unknown"
    fingerprint = hash_token(token)
    limits.check_failed_token(client, fingerprint)
    try:
        user = authenticate(session, token)
    except Unauthorized:
        wait = limits.failed(client, fingerprint)
        if wait is not None:
            raise too_many_failures(wait) from None
        raise
    limits.check_token(fingerprint)
    return user


def _app_settings(request: Request) -> Settings:
    # The settings the app's routes get (a test's override of get_settings included),
    # read here rather than as a dependency: a sync dependency is a hop to the thread
    # pool on every request, for a value that is needed once, to make the limiters.
    return request.app.dependency_overrides.get(get_settings, get_settings)()


def get_current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise Unauthorized("send 'Authorization: Bearer <token>'")
    return authenticate_limited(request, session, credentials.credentials)


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency admitting users holding any one of ``roles``; others get 403."""
    if not roles:
        raise ValueError("require_roles needs at least one role")
    labels = [("an " if role.label[0] in "aeiou" else "a ") + role.label for role in sorted(roles)]
    wanted = ", ".join(labels[:-1]) + " or " + labels[-1] if len(labels) > 1 else labels[0]

    def _check(user: CurrentUser) -> User:
        if not user.has_role(*roles):
            raise Forbidden(f"only {wanted} may do this")
        return user

    return _check


def role_dependency(*roles: Role) -> Callable[[User], Awaitable[User]]:
    """``require_roles`` for ``Depends``, as a coroutine: the check does no I/O, so FastAPI
    runs it on the event loop instead of handing it to the thread pool. (``require_roles``
    stays a plain function: pages call it directly.)"""
    check = require_roles(*roles)

    async def _check(user: CurrentUser) -> User:
        return check(user)

    return _check


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]
AuditReader = Annotated[User, Depends(require_roles(Role.coordinator, Role.admin))]
