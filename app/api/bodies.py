"""Where every request body is read: one content-type rule, one JSON parser, for every route.

``RequestGuard`` is ASGI middleware, so it runs before routing's dependencies: no
authentication, no database session, no domain code sees a request it refuses. For
each request it

* refuses a NUL character in the path or the query string (422): no text column of
  PostgreSQL can hold one, and SQLite would store it silently;
* takes the route the request is for from the app's route table and refuses a body of a
  media type that route does not read (415, naming the ones it does). What a route reads:
  ``route.consumes`` if it declares it (the web pages' route class does: forms), else
  FastAPI's own body (JSON; a form where it takes ``Form``/``File``), else the media
  types its OpenAPI ``requestBody`` documents (routes that read their body raw), else
  nothing: a route without a body takes an empty one, or a JSON one it ignores. A form
  or ``text/plain`` body is refused where JSON is read because browsers send those
  cross-site without a CORS preflight; a body that declares no media type is refused too;
* parses a JSON body once (``parse_json``): malformed JSON, ``NaN``/``Infinity``,
  nesting deeper than ``MAX_JSON_DEPTH`` and a NUL character in any string or key are
  422 problem details listing where. The parsed value is kept in the request's scope;
  routes that validate raw JSON themselves take it with ``JsonBody``;
* refuses ``%00`` in an URL-encoded form body the same way.

The body is bounded before it gets here (``app.middleware.BodySizeLimit`` wraps this);
it is read whole, then handed on unchanged to the route.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request, params
from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import DomainError, FieldIssue, InvalidInput, error_response

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
FORM_MEDIA_TYPES = (FORM, MULTIPART)

# Far deeper than any document this service reads (a problem document is 4 levels deep,
# a v2 one 6), far shallower than what exhausts a parser's or a validator's recursion.
MAX_JSON_DEPTH = 32

NUL_REASON = "must not contain the NUL character (U+0000)"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SCOPE_KEY = "poolbuy.json_body"
_NO_BODY: tuple[str, ...] = ()


class UnsupportedMediaType(DomainError):
    def __init__(self, accepted: Iterable[str]) -> None:
        names = ", ".join(accepted) or "no body"
        super().__init__(415, "Unsupported media type", f"this route takes {names}")


# ------------------------------------------------------------------ JSON


_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(raw: bytes) -> int:
    """How deep a JSON text nests arrays and objects, counted on the text (no parsing)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    openers = brackets.count(b"[") + brackets.count(b"{")
    if openers <= MAX_JSON_DEPTH:
        return openers  # a bound, and all a caller compares with MAX_JSON_DEPTH
    return max(itertools.accumulate(_STEP[b] for b in brackets))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _nul_paths(value: Any) -> Iterator[str]:
    """JSON paths of the strings (values or keys) in ``value`` holding a NUL; no recursion."""
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                yield path
        elif isinstance(node, dict):
            for key, child in node.items():
                if "\x00" in key:
                    yield f"{path}.{key.replace(chr(0), '\\u0000')}"
                stack.append((f"{path}.{key}", child))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(node))


def parse_json(raw: bytes) -> Any:
    """The JSON value of a body, or InvalidInput (422) saying why it is not acceptable."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidInput([FieldIssue("$", f"nests deeper than {MAX_JSON_DEPTH} levels")])
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidInput([FieldIssue("$", f"malformed JSON: {exc}")]) from None
    if b"\\u0000" in raw:  # the only way JSON writes a NUL; rare, so walked only then
        nul = sorted(_nul_paths(value))
        if nul:
            raise InvalidInput([FieldIssue(path, NUL_REASON) for path in nul])
    return value


_MISSING = object()


async def json_body(request: Request) -> Any:
    """The request's JSON body as ``RequestGuard`` parsed it (422 if there is none).

    async: it does no I/O, so FastAPI calls it on the event loop, not in the thread pool."""
    value = request.scope.get(_SCOPE_KEY, _MISSING)
    if value is _MISSING:
        raise InvalidInput([FieldIssue("$", "a JSON body is required")])
    return value


JsonBody = Annotated[Any, Depends(json_body)]


# ------------------------------------------------------------------ the route table


def consumes(route: Any) -> tuple[str, ...]:
    """The media types ``route`` reads its body as (empty: it takes none)."""
    declared = getattr(route, "consumes", None)
    if declared is not None:
        return tuple(declared)
    body = getattr(route, "body_field", None)
    if body is not None:
        if isinstance(body.field_info, params.File):
            return (MULTIPART,)
        if isinstance(body.field_info, params.Form):
            return FORM_MEDIA_TYPES
        return (JSON,)
    documented = (getattr(route, "openapi_extra", None) or {}).get("requestBody", {})
    return tuple(documented.get("content", {}))


def _accepts(accepted: tuple[str, ...], media_type: str) -> bool:
    if not accepted:
        # No body is read: an empty one, or JSON (clients send "{}" out of habit).
        return media_type == JSON or media_type.endswith("+json")
    if JSON in accepted and media_type.endswith("+json"):
        return True
    return media_type in accepted


class RequestGuard:
    """ASGI middleware enforcing the rules in this module's docstring on every route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: list[tuple[Any, tuple[str, ...]]] | None = None

    def _route_media(self, scope: Scope) -> tuple[str, ...] | None:
        """What the route the request is for reads; None if no route takes the request."""
        if self._table is None:
            app = scope.get("app")
            routes = getattr(app, "routes", [])
            self._table = [
                # The context, not its route: it matches the whole path, prefix included.
                (context, consumes(context.original_route))
                for context in iter_route_contexts(routes)
                if context.methods and set(context.methods) & _BODY_METHODS
            ]
        for route, media in self._table:
            if route.matches(scope)[0] == Match.FULL:
                return media
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _refuse_nul_in_url(scope)
            if scope["method"] in _BODY_METHODS:
                receive = await self._read_body(scope, receive)
        except DomainError as exc:
            await error_response(exc, scope.get("path"))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive:
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the route will see the same
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        media = _media_type(scope)
        if raw or media:
            accepted = self._route_media(scope)
            if accepted is not None:  # else the router answers 404 or 405
                if not _accepts(accepted, media) and (raw or accepted):
                    raise UnsupportedMediaType(accepted)
                if raw and (media == JSON or media.endswith("+json")):
                    scope[_SCOPE_KEY] = parse_json(raw)
                elif raw and media == FORM:
                    _refuse_nul_in_form(raw)
        return _replay(raw, receive)


def _media_type(scope: Scope) -> str:
    return Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()


def _replay(raw: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


def refuse_nul_in_fields(fields: Iterable[tuple[str, Any]]) -> None:
    """InvalidInput naming each form or query field whose name or text holds a NUL."""
    names = sorted(
        {
            name
            for name, value in fields
            if "\x00" in name or (isinstance(value, str) and "\x00" in value)
        }
    )
    if names:
        raise InvalidInput([FieldIssue(f"$.{n.replace(chr(0), '%00')}", NUL_REASON) for n in names])


def _refuse_nul_in_url(scope: Scope) -> None:
    issues = []
    if "\x00" in scope.get("path", ""):
        issues.append(FieldIssue("$", f"the URL path {NUL_REASON}"))
    if issues:
        raise InvalidInput(issues)
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        refuse_nul_in_fields(parse_qsl(query.decode("latin-1"), keep_blank_values=True))


def _refuse_nul_in_form(raw: bytes) -> None:
    if b"%00" in raw or b"\x00" in raw:
        refuse_nul_in_fields(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
