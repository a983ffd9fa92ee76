"""Signing in with an API token, and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.service import authenticate
from app.db import SessionDep
from app.errors import Unauthorized
from app.web import session as web_session
from app.web.deps import (
    CheckedForm,
    SettingsDep,
    WebRoute,
    authenticate_limited,
    redirect,
    render,
    text,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would make the sign-in page a phishing aid."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/rounds"
    return target


@router.get("/")
def home() -> Response:
    return redirect("/rounds")


@router.get("/sign-in")
def sign_in_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    next: Annotated[str | None, Query()] = None,
) -> Response:
    state = web_session.read_session(request, settings)
    if state is not None and state.token is not None:
        try:
            authenticate(session, state.token)
            return redirect(safe_next(next))
        except Unauthorized:
            state = None
    fresh = state is None
    if state is None:
        # An anonymous session, so the sign-in form has a CSRF token too.
        state = web_session.new_session()
    request.state.web_session = state
    response = render(request, settings, "sign_in.html", {"next": safe_next(next)})
    if fresh:
        web_session.write_session(response, state, settings)
    return response


@router.post("/sign-in")
def sign_in(
    request: Request, form: CheckedForm, session: SessionDep, settings: SettingsDep
) -> Response:
    token = text(form, "token")
    target = safe_next(text(form, "next"))
    if not token:
        problem = "Paste your API token (it starts with pb_)."
    else:
        try:
            user = authenticate_limited(request, session, token, settings)
        except Unauthorized as exc:
            problem = f"This token cannot sign you in: {exc.detail}."
        else:
            # A new nonce on sign-in: a session planted before it is worth nothing after.
            response = redirect(target, settings, f"Signed in as {user.name}.")
            web_session.write_session(response, web_session.new_session(token), settings)
            return response
    return render(
        request,
        settings,
        "sign_in.html",
        {"next": target, "errors": {"token": [problem]}},
        status_code=401,
    )


@router.post("/sign-out")
def sign_out(form: CheckedForm, settings: SettingsDep) -> Response:
    response = redirect("/sign-in", settings, "You are signed out.")
    web_session.clear_session(response, settings)
    return response
