"""The web pages, one router per area; ``app.web.mount_web`` includes them all."""

from fastapi import APIRouter

from app.web.pages import auth, catalogue, files, needs, rounds, runs

ROUTERS: list[APIRouter] = [
    auth.router,
    rounds.router,
    needs.router,
    catalogue.router,
    runs.router,
    files.router,
]
