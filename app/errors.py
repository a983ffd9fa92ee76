"""Domain errors and their one mapping to RFC 9457 problem details.

Services raise these; nothing else in the app builds an error response by hand.
"""

from collections.abc import Mapping
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


def _path_from_loc(loc: tuple[Any, ...]) -> str:
    path = "$"
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(
            exc.status, exc.title, exc.detail, exc.errors, request.url.path, exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Pydantic prefixes the messages of custom validators; the reader needs the reason.
        issues = [
            FieldIssue(_path_from_loc(tuple(e["loc"])), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
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
