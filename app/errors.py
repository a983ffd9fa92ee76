"""Domain errors and their one mapping to RFC 9457 problem details.

Services raise these; nothing else in the app builds an error response by hand.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


@dataclass
class FieldIssue:
    """One problem with the input: where it is (a JSON path) and why it is wrong."""

    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


# ----------------------------------------------------- validation errors, in words

# Sentences for string patterns, by pattern: the schemas that define a pattern say
# what it means (``describe_pattern``); a reader never sees the regular expression.
_PATTERN_WORDS: dict[str, str] = {}
# Pydantic puts these first in a request's loc; the path is the body's (or query's) own.
_REQUEST_PARTS = frozenset({"body", "query", "path", "header", "cookie"})


def describe_pattern(pattern: str, sentence: str) -> str:
    """Say in words what ``pattern`` asks for (e.g. "enter two capital letters, e.g. PA")."""
    _PATTERN_WORDS[pattern] = sentence
    return pattern


def _number(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return str(value)


def _choices(expected: str) -> str:
    # Pydantic's "'a', 'b' or 'c'", as the words a person reads: "a, b or c".
    return expected.replace("'", "").replace("_", " ")


def plain_reason(error: Mapping[str, Any]) -> str:
    """One Pydantic error as a sentence a field officer understands: never the library's."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    message = str(error.get("msg", ""))
    match kind:
        case "missing" | "missing_argument":
            return "is required"
        case "value_error":
            return message.removeprefix("Value error, ")
        case "assertion_error":
            return message.removeprefix("Assertion failed, ")
        case "less_than_equal":
            return f"must be at most {_number(ctx.get('le'))}"
        case "greater_than_equal":
            ge = ctx.get("ge")
            return "must be 0 or more" if ge == 0 else f"must be at least {_number(ge)}"
        case "less_than":
            return f"must be less than {_number(ctx.get('lt'))}"
        case "greater_than":
            gt = ctx.get("gt")
            if isinstance(gt, int) and isinstance(error.get("input"), int):
                return f"must be at least {_number(gt + 1)}"
            return f"must be more than {_number(gt)}"
        case "int_parsing" | "int_type" | "int_from_float":
            return "enter a whole number"
        case "float_parsing" | "float_type":
            return "enter a number"
        case "decimal_parsing" | "decimal_type":
            return "enter an amount such as 12.50"
        case "finite_number":
            return "must be a finite number"
        case "multiple_of":
            return f"must be a multiple of {_number(ctx.get('multiple_of'))}"
        case "decimal_max_places":
            return f"must have at most {ctx.get('decimal_places')} digits after the point"
        case "decimal_max_digits" | "decimal_whole_digits":
            return "has too many digits"
        case "bool_parsing" | "bool_type":
            return "must be true or false"
        case "string_type":
            return "must be text"
        case "string_too_short":
            n = int(ctx.get("min_length", 1))
            return "is required" if n == 1 else f"must be at least {n} characters long"
        case "string_too_long":
            return f"must be at most {_number(ctx.get('max_length'))} characters long"
        case "string_pattern_mismatch":
            return _PATTERN_WORDS.get(str(ctx.get("pattern")), "is not in the expected form")
        case "too_short":
            n = int(ctx.get("min_length", 1))
            return "give at least one" if n == 1 else f"give at least {n}"
        case "too_long":
            return f"give at most {_number(ctx.get('max_length'))}"
        case "enum" | "literal_error":
            return f"choose {_choices(str(ctx.get('expected', '')))}"
        case (
            "date_parsing"
            | "date_type"
            | "date_from_datetime_parsing"
            | "date_from_datetime_inexact"
        ):
            return "enter a date as YYYY-MM-DD"
        case "datetime_parsing" | "datetime_type" | "datetime_from_date_parsing":
            return "enter a date and time such as 2026-12-31T17:00:00-05:00"
        case "timezone_aware":
            return "must include its timezone, e.g. 2026-12-31T17:00:00-05:00"
        case "extra_forbidden":
            return "is not a field here: remove it (check its spelling)"
        case "list_type" | "set_type" | "tuple_type":
            return "must be a list"
        case "dict_type" | "model_type" | "model_attributes_type":
            return "must be an object with named fields"
        case "json_invalid":
            return "is not valid JSON"
        case "url_parsing" | "url_type" | "url_scheme":
            return "must be a web address such as https://example.org"
        case "uuid_parsing" | "uuid_type":
            return "must be a UUID"
    # A kind not listed above: its words made a sentence, never "Input should be ...".
    for prefix, lead in (("Input should be ", "must be "), ("Value error, ", "")):
        if message.startswith(prefix):
            return lead + message.removeprefix(prefix)
    return "is not valid"


def issue_path(loc: Iterable[Any], *, request: bool = False) -> str:
    """A Pydantic ``loc`` as this service's one path style: ``$.tiers[0].unit_price``.

    ``request``: the loc of a request's error, led by where the value came from
    (body, query, ...), which is not part of the path. The names Pydantic gives
    to Annotated validators (they hold a bracket) are not places either.
    """
    parts = list(loc)
    if request and parts and parts[0] in _REQUEST_PARTS:
        parts = parts[1:]
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not (isinstance(part, str) and "[" in part):
            path += f".{part}"
    return path


def field_issues(errors: Iterable[Mapping[str, Any]], *, request: bool = False) -> list[FieldIssue]:
    """Pydantic's errors (``exc.errors()``) as field problems: the one conversion, used by
    the API, the web forms, the command line and the imports."""
    issues = [FieldIssue(issue_path(e["loc"], request=request), plain_reason(e)) for e in errors]
    # One problem per place and reason (a union's branches repeat themselves).
    return [FieldIssue(p, r) for p, r in dict.fromkeys((i.path, i.reason) for i in issues)]


@dataclass
class DomainError(Exception):
    status: int = 400
    title: str = "Bad request"
    detail: str = ""
    errors: list[FieldIssue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)


class InvalidInput(DomainError):
    def __init__(self, errors: list[FieldIssue], detail: str | None = None) -> None:
        count = len(errors)
        super().__init__(
            422,
            "Invalid input",
            detail or f"{count} problem{'s' if count != 1 else ''} found; nothing was changed",
            errors,
        )


class NotFound(DomainError):
    def __init__(self, what: str) -> None:
        super().__init__(404, "Not found", f"{what} was not found")


class Unauthorized(DomainError):
    def __init__(self, detail: str = "a valid API token is required") -> None:
        super().__init__(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(403, "Forbidden", detail)


class Conflict(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(409, "Conflict", detail)


class PreconditionFailed(DomainError):
    def __init__(self, detail: str = "the resource changed since you read it") -> None:
        super().__init__(412, "Precondition failed", detail)


class PreconditionRequired(DomainError):
    def __init__(self, detail: str = "send If-Match with the ETag you read") -> None:
        super().__init__(428, "Precondition required", detail)


class PayloadTooLarge(DomainError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "Payload too large", f"the request body exceeds {limit} bytes")


class ServiceUnavailable(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(503, "Service unavailable", detail, headers={"Retry-After": "5"})


class InsufficientStorage(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(507, "Insufficient storage", detail)


# What the drivers say when the disk is full (SQLite's SQLITE_FULL, PostgreSQL's 53100).
_DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file")
_READ_ONLY = ("readonly database", "read-only")


def database_unavailable(exc: OperationalError | InterfaceError) -> DomainError:
    """The problem a request answers with when the database fails under it.

    A lost or refused connection, a server restarting, a lock wait that timed out: the
    request changed nothing (its transaction was rolled back) and may be retried, so 503
    with Retry-After. A full disk is 507. The driver's own message is never shown: it
    can name hosts, users and files.
    """
    text = str(exc.orig if exc.orig is not None else exc).lower()
    if any(marker in text for marker in _DISK_FULL):
        return InsufficientStorage("the database's disk is full; nothing was changed")
    if any(marker in text for marker in _READ_ONLY):
        return ServiceUnavailable("the database is read-only at the moment; nothing was changed")
    return ServiceUnavailable("the database is unavailable at the moment; try again shortly")


def problem_response(
    status: int,
    title: str,
    detail: str = "",
    errors: list[FieldIssue] | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


def error_response(
    exc: DomainError, instance: str | None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """``exc`` as problem details: the handler's answer, and the middleware's, which
    answers before the app's handlers run. ``headers`` replace the error's own."""
    if headers is None:
        headers = exc.headers
    return problem_response(exc.status, exc.title, exc.detail, exc.errors, instance, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = field_issues(exc.errors(), request=True)
        err = InvalidInput(issues)
        return problem_response(422, err.title, err.detail, issues, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code, str(exc.detail), "", None, request.url.path, exc.headers
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database(request: Request, exc: OperationalError | InterfaceError) -> JSONResponse:
        import logging

        logging.getLogger("poolbuy").warning(
            "database unavailable on %s: %s", request.url.path, exc.orig or exc
        )
        err = database_unavailable(exc)
        return problem_response(
            err.status, err.title, err.detail, None, request.url.path, err.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never leak a traceback: the log has it, the client gets a plain 500.
        import logging

        logging.getLogger("poolbuy").exception("unhandled error on %s", request.url.path)
        return problem_response(500, "Internal server error", "", None, request.url.path)
