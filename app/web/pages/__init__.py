"""The web pages, one router per area; ``app.web.mount_web`` includes them all."""

from fastapi import APIRouter

from app.web.pages import (
    audit,
    auth,
    catalogue,
    catalogue_forms,
    deliveries,
    files,
    needs,
    rounds,
    runs,
    scenarios,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    rounds.router,
    needs.router,
    catalogue.router,
    catalogue_forms.router,
    runs.router,
    scenarios.router,
    deliveries.router,
    files.router,
    audit.router,
]
