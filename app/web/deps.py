"""What every web page shares: who is signed in, the checked form, rendering, errors.

``WebUser`` is the signed-in person (else a redirect to the sign-in page);
``CheckedForm`` is the posted form once its CSRF token is verified (else 403).
``render`` fills in what the layout needs (the user, the CSRF token, a notice).

``WebRoute`` is the route class of every web router: a domain error raised by a
service becomes an HTML page with the same status (the API's handlers answer JSON
problem details, which a person in a browser should not be shown), and every page
gets its Content-Security-Policy (own scripts and styles only) and ``no-store``,
as pages show one person's view of their agency's data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Coroutine, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import FormData

from app.api.bodies import FORM_MEDIA_TYPES, refuse_nul_in_fields
from app.api.params import MAX_OFFSET
from app.auth.deps import authenticate_limited
from app.auth.models import Role, User
from app.catalogue import service as catalogue_service
from app.catalogue.models import Item, Location, Supplier
from app.db import SessionDep
from app.errors import DomainError, FieldIssue, Unauthorized, field_issues
from app.settings import Settings, get_settings
from app.web import changes
from app.web import session as web_session
from app.web.session import WebSession

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

SettingsDep = Annotated[Settings, Depends(get_settings)]
# Rows to skip in a list page: bounded, as a larger number does not fit the query (a 500).
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


class SignInRequired(Exception):
    def __init__(self, next_path: str, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.next_path = next_path
        self.reason = reason


class CsrfRefused(Exception):
    """The form's CSRF token is missing or wrong (or the session cookie is)."""


# ------------------------------------------------------------------------ formatting

NONE = "\u2013"  # an en dash for "no figure"
MINUS = "\u2212"  # a true minus sign: a hyphen is easy to miss before a figure


def money(value: Any, places: int = 2) -> str:
    if value is None or value == "":
        return NONE
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return NONE
    if not number.is_finite():
        return NONE
    sign = MINUS if number < 0 else ""
    return f"{sign}{abs(number):,.{places}f}"


def number(value: Any) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def change(value: Any, places: int | None = 2) -> str:
    """A difference with its sign (a true minus), or "no change"; places None: a count."""
    if value is None:
        return NONE
    if value == 0:
        return "no change"
    size = money(abs(value), places) if places is not None else number(abs(value))
    return ("+" if value > 0 else MINUS) + size


def percent(value: Any) -> str:
    if value is None:
        return NONE
    return f"{float(value):.1f} %"


def _offset_label(moment: dt.datetime) -> str:
    """`` UTC\u221205:00``: a time is read the same wherever its reader sits (none when unknown)."""
    offset = moment.utcoffset()
    if offset is None:
        return ""
    if not offset:
        return " UTC"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes > 0 else MINUS
    hours, rest = divmod(abs(minutes), 60)
    return f" UTC{sign}{hours:02d}:{rest:02d}"


def when(value: Any, zone: dt.tzinfo | None = None) -> str:
    if value is None:
        return NONE
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if zone is not None and value.tzinfo is not None:
            value = value.astimezone(zone)
        return value.strftime("%Y-%m-%d %H:%M") + _offset_label(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def counted(count: Any, noun: str, nouns: str | None = None) -> str:
    """``1 day``, ``2 days``, ``1,200 items``: a count with its noun in the right number."""
    word = noun if count == 1 else (nouns or noun + "s")
    return f"{number(count)} {word}"


def name_codes(text: str, names: Mapping[str, str]) -> str:
    """``text`` with each code of ``names`` (an item, location or supplier id, as the solver's
    sentences cite them) replaced by its name: people read names, files keep the codes."""
    known = {code: name for code, name in names.items() if name and name != code}
    if not text or not known:
        return text
    pattern = re.compile(
        r"(?<![\w-])("
        + "|".join(re.escape(c) for c in sorted(known, key=len, reverse=True))
        + r")(?![\w-])"
    )
    return pattern.sub(lambda m: known[m.group(1)], text)


def with_query(request: Request, _keep: Mapping[str, Any] | None = None, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None drops one): pager links.
    ``_keep``: parameters the links carry that the request itself did not."""
    params = {**{k: str(v) for k, v in (_keep or {}).items()}, **request.query_params}
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return request.url.path + ("?" + urlencode(params) if params else "")


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters.update(
    money=money, number=number, percent=percent, when=when, change=change, counted=counted
)
templates.env.globals.update(Role=Role, with_query=with_query)


# ------------------------------------------------------------------------ who is in


def read_web_session(request: Request, settings: SettingsDep) -> WebSession | None:
    return web_session.read_session(request, settings)


def _next_path(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


def current_user(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    """The signed-in user, authenticated again from the session's token on every request."""
    state = web_session.read_session(request, settings)
    if state is None or state.token is None:
        raise SignInRequired(_next_path(request))
    try:
        user = authenticate_limited(request, session, state.token, settings)
    except Unauthorized as exc:
        raise SignInRequired(_next_path(request), f"Your session ended: {exc.detail}.") from exc
    request.state.web_session = state
    request.state.user = user
    request.state.db = session  # for the layout's count of unseen changes
    return user


WebUser = Annotated[User, Depends(current_user)]


async def checked_form(request: Request, settings: SettingsDep) -> FormData:
    form = await request.form()
    # URL-encoded forms were checked before routing (app.api.bodies); a multipart one's
    # text fields only now that it is parsed.
    refuse_nul_in_fields(form.multi_items())
    state = web_session.read_session(request, settings)
    token = form.get("csrf_token")
    if not web_session.csrf_valid(state, token if isinstance(token, str) else None, settings):
        raise CsrfRefused()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# -------------------------------------------------------------------------- render


def _context(request: Request, settings: Settings) -> dict[str, Any]:
    state: WebSession | None = getattr(request.state, "web_session", None)
    if state is None:
        state = web_session.read_session(request, settings)
    csrf = web_session.csrf_token(state, settings) if state is not None else ""
    return {
        "unseen": _unseen(request),
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf_token": csrf,
        "notice": web_session.pop_notice(request, settings),
        "settings": settings,
    }


def _unseen(request: Request) -> int:
    """The nav's count of changes the signed-in user has not seen (0 signed out)."""
    user, db = getattr(request.state, "user", None), getattr(request.state, "db", None)
    if user is None or db is None:
        return 0
    try:
        return changes.unseen_count(db, user)
    except SQLAlchemyError:
        # A page showing a failed write's error: its session is unusable until rolled
        # back, and the badge is not worth a second error.
        return 0


def render(
    request: Request,
    settings: Settings,
    template: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    full = {**_context(request, settings), **(context or {})}
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    if full["notice"] is not None:
        web_session.clear_notice(response, settings)
    return response


def redirect(
    url: str, settings: Settings | None = None, notice: str | None = None, kind: str = "ok"
) -> RedirectResponse:
    """303 See Other: after a POST the browser GETs the page (no re-post on reload)."""
    response = RedirectResponse(url, status_code=303)
    if notice is not None and settings is not None:
        web_session.set_notice(response, settings, notice, kind)
    return response


# ----------------------------------------------------------------------- form errors


def field_errors(issues: list[FieldIssue], aliases: Mapping[str, str] | None = None) -> dict:
    """``$.quantity: must be ...`` -> ``{"quantity": ["must be ..."]}``; ``$`` -> ``_form``.

    The reasons are already in words (``app.errors.field_issues``, the one conversion)."""
    errors: dict[str, list[str]] = {}
    for issue in issues:
        field = issue.path.removeprefix("$").lstrip(".").split(".", 1)[0].split("[", 1)[0]
        field = (aliases or {}).get(field, field) or "_form"
        errors.setdefault(field, []).append(issue.reason)
    return errors


# -------------------------------------------------------------------------- names


def names_context(
    session: Any,
    item_ids: list[str],
    location_ids: list[str],
    supplier_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Names for the item, location and supplier codes a page lists (people read names,
    files codes)."""
    return {
        "item_names": catalogue_service.names_by_id(session, Item, item_ids),
        "location_names": catalogue_service.names_by_id(session, Location, location_ids),
        "supplier_names": catalogue_service.names_by_id(session, Supplier, supplier_ids or []),
    }


def document_names(problem: Mapping[str, Any]) -> dict[str, Any]:
    """The same from a run's problem document (its items, locations, suppliers and agencies
    carry their names)."""

    def of(key: str) -> dict[str, str]:
        return {e["id"]: e.get("name") or e["id"] for e in problem.get(key, [])}

    return {
        "item_names": of("items"),
        "location_names": of("locations"),
        "supplier_names": of("suppliers"),
        "agency_names": of("agencies"),
    }


# ------------------------------------------------------------------------ the route


def _error_page(request: Request, settings: Settings, status: int, title: str, detail: str) -> Any:
    return render(
        request,
        settings,
        "error.html",
        {"status": status, "title": title, "detail": detail},
        status_code=status,
    )


def not_found_page(request: Request) -> Response:
    """The page for a path that leads nowhere (``app.web`` answers browsers with it)."""
    response = _error_page(
        request,
        _settings_of(request),
        404,
        "Page not found",
        "There is no page at this address. It may have been mistyped, or what it showed "
        "was removed. Start again from the rounds.",
    )
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    return response


class WebRoute(APIRoute):
    """An APIRoute whose errors are pages, and whose pages carry their security headers."""

    # What app.api.bodies lets through to a page: its forms (read by ``checked_form``).
    consumes = FORM_MEDIA_TYPES

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            settings = _settings_of(request)
            try:
                response = await handler(request)
            except SignInRequired as exc:
                target = "/sign-in?next=" + quote(exc.next_path, safe="/")
                response = (
                    redirect(target, settings, exc.reason, "error")
                    if exc.reason
                    else (redirect(target))
                )
                if exc.reason:
                    web_session.clear_session(response, settings)
            except CsrfRefused:
                response = _error_page(
                    request,
                    settings,
                    403,
                    "The form has expired",
                    "The page you sent the form from is out of date or was not opened from "
                    "poolbuy (its security token does not match). Go back, reload the page "
                    "and send it again.",
                )
            except DomainError as exc:
                response = _error_page(request, settings, exc.status, exc.title, exc.detail)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{issue.path}: {issue.reason}"
                    for issue in field_issues(exc.errors(), request=True)
                )
                response = _error_page(request, settings, 400, "Bad request", problems)
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return route


def _settings_of(request: Request) -> Settings:
    # The app's own settings: create_app(settings) installs them as an override.
    override = request.app.dependency_overrides.get(get_settings)
    return override() if override is not None else get_settings()


def page_markup(svg: str) -> Markup:
    """SVG built by ``app.web.charts`` (every text in it escaped there)."""
    return Markup(svg)
