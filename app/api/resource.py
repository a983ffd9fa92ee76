"""The create/read/update/delete routes of one resource, written once.

Most resources answer the same four ways: a create POST that replays an
Idempotency-Key and answers 201 with ETag and Location, a GET with the ETag, a
PATCH that needs If-Match and answers with the new ETag, a DELETE that needs
If-Match and answers 204. Each route still makes one service call::

    add_create(router, "/items", user=CatalogueManager, body=ItemCreate,
               create=service.create_item, url=service.item_url, name="create_item",
               summary="Add an item", response_model=ItemRead, responses=_CREATE,
               doc="Add an item ...")

What differs between resources (who may write, which dependency loads the row,
the body) is given as the annotations FastAPI reads, so the OpenAPI document reads
as if each route were written out: the same operation id (``name``), description
(``doc``), parameters and responses. The other keywords are the decorator's
(``summary``, ``response_model``, ``responses``, ``openapi_extra``). List routes
have their own filters and stay written out in each router.
"""

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response, status

from app.api.deps import IdempotencyDep
from app.api.etags import IfMatchDep, set_etag
from app.db import SessionDep


def _annotate[F: Callable[..., Any]](endpoint: F, **annotations: Any) -> F:
    """Give ``endpoint``'s parameters the dependencies FastAPI should resolve."""
    endpoint.__annotations__.update(annotations)
    return endpoint


def _register(
    router: APIRouter, path: str, method: str, endpoint: Callable[..., Any], route: dict[str, Any]
) -> None:
    """Add ``endpoint`` as ``router`` would from a decorator over a function whose
    docstring is ``route["doc"]`` (the description; none without it). ``route`` holds the
    decorator's arguments besides: ``name`` (the operation id's stem), ``summary``,
    ``responses``, ``response_model``, ``openapi_extra``."""
    doc = route.pop("doc", None)
    if doc:
        route["description"] = inspect.cleandoc(doc)
    router.add_api_route(path, endpoint, methods=[method], **route)


def add_create(
    router: APIRouter,
    path: str,
    *,
    user: Any,
    body: Any,
    create: Callable[..., Any],
    url: Callable[[Any], str],
    **route: Any,
) -> None:
    """POST ``path``: ``create(session, user, body, idem)``, 201 with ETag and Location."""

    def endpoint(
        user: Any, idem: IdempotencyDep, body: Any, session: SessionDep, response: Response
    ) -> Any:
        if (replay := idem.replay()) is not None:
            return replay
        row = create(session, user, body, idem)
        set_etag(response, row)
        response.headers["Location"] = url(row)
        return row

    route["status_code"] = status.HTTP_201_CREATED
    _register(router, path, "POST", _annotate(endpoint, user=user, body=body), route)


def add_read(router: APIRouter, path: str, *, user: Any, row: Any, **route: Any) -> None:
    """GET ``path``: the row ``row`` loads (or its 404), with its ETag."""

    def endpoint(row: Any, user: Any, response: Response) -> Any:
        set_etag(response, row)
        return row

    _register(router, path, "GET", _annotate(endpoint, row=row, user=user), route)


def add_update(
    router: APIRouter,
    path: str,
    *,
    user: Any,
    row: Any,
    body: Any,
    update: Callable[..., Any],
    **route: Any,
) -> None:
    """PATCH ``path``: ``update(session, user, row, body, if_match)``, with the new ETag."""

    def endpoint(
        user: Any,
        row: Any,
        if_match: IfMatchDep,
        body: Any,
        session: SessionDep,
        response: Response,
    ) -> Any:
        row = update(session, user, row, body, if_match)
        set_etag(response, row)
        return row

    _register(router, path, "PATCH", _annotate(endpoint, user=user, row=row, body=body), route)


def add_delete(
    router: APIRouter, path: str, *, user: Any, row: Any, delete: Callable[..., None], **route: Any
) -> None:
    """DELETE ``path``: ``delete(session, user, row, if_match)``, 204."""

    def endpoint(user: Any, row: Any, if_match: IfMatchDep, session: SessionDep) -> Response:
        delete(session, user, row, if_match)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    route["status_code"] = status.HTTP_204_NO_CONTENT
    _register(router, path, "DELETE", _annotate(endpoint, user=user, row=row), route)
