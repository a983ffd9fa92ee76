"""Web pages for the people of the group: server-rendered HTML over the same services.

``mount_web(app)`` adds the pages (``app.web.pages``) and their static files
(``/static``) to the service; ``app.main.create_app`` calls it. Pages work without
JavaScript; ``static/poolbuy.js`` only follows a run's progress without reloads.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.web.deps import STATIC_DIR
from app.web.pages import ROUTERS


def mount_web(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
