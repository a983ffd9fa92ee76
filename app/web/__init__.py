"""Web pages for the people of the group: server-rendered HTML over the same services.

``mount_web(app)`` adds the pages (``app.web.pages``) and their static files
(``/static``) to the service; ``app.main.create_app`` calls it. Pages work without
JavaScript; ``static/poolbuy.js`` only follows a run's progress without reloads.
"""

from __future__ import annotations

import inspect

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.web.deps import STATIC_DIR, not_found_page
from app.web.pages import ROUTERS

API_PREFIX = "/api/"


def mount_web(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _browsers_get_a_404_page(app)


def _browsers_get_a_404_page(app: FastAPI) -> None:
    """An unknown path asked for by a browser (it accepts HTML) is answered with a page;
    the API and every other client keep the problem-details JSON of the app's own handler,
    which this one hands everything else to."""
    answer_json = app.exception_handlers[StarletteHTTPException]

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if (
            exc.status_code == 404
            and not request.url.path.startswith(API_PREFIX)
            and "text/html" in request.headers.get("accept", "")
        ):
            return not_found_page(request)
        answer = answer_json(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, handler)
