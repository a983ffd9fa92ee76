"""The ASGI application: `app.main:app`."""

import base64
import hashlib
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from app.api.bodies import RequestGuard
from app.api.openapi import complete_document
from app.audit.routes import router as audit_router
from app.auth.routes import router as auth_router
from app.bootstrap import register_all
from app.catalogue.routes import router as catalogue_router
from app.deliveries.routes import router as deliveries_router
from app.errors import install_error_handlers
from app.exchange.routes import router as exchange_router
from app.jobs.routes import router as jobs_router
from app.middleware import AllowOnMethodNotAllowed, BodySizeLimit, RequestSlots, SecurityHeaders
from app.needs.routes import router as needs_router
from app.rounds.routes import router as rounds_router
from app.rounds.routes import schedule_router
from app.runs.routes import jobs_router as run_jobs_router
from app.runs.routes import router as runs_router
from app.scenarios.routes import router as scenarios_router
from app.settings import Settings, get_settings
from app.solve.routes import router as solve_router
from app.sourcing.routes import router as sourcing_router
from app.web import mount_web

API_PREFIX = "/api/v1"

# Every domain's router, mounted under /api/v1 in this order. A new domain (needs, rounds,
# catalogue, runs, auth) imports `from app.<domain>.routes import router as <domain>_router`
# above and adds one line here; its own paths are relative, e.g. "/needs/{need_id}".
API_ROUTERS: list[APIRouter] = [
    solve_router,
    auth_router,
    audit_router,
    rounds_router,
    needs_router,
    catalogue_router,
    sourcing_router,
    runs_router,
    scenarios_router,
    exchange_router,
    jobs_router,
    run_jobs_router,
    schedule_router,
    deliveries_router,
]

DESCRIPTION = """
Joint procurement optimisation for the UN inter-agency group in Panama.

Send a pooling problem (contract v1) to `POST /api/v1/solve` and get back the plan: the
consolidated orders, each agency's awards, shipments, unmet needs with their reasons, and
what every agency saves against buying alone. Errors are RFC 9457 problem details
(`application/problem+json`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. `settings` overrides the environment's (tests pass their own)."""
    register_all()
    explicit = settings is not None
    settings = settings if settings is not None else get_settings()
    app = FastAPI(
        title="poolbuy",
        version="1.0.0",
        summary="Pooled procurement for humanitarian agencies",
        description=DESCRIPTION,
        # /docs is served below with its own Content-Security-Policy; ReDoc would need
        # another set of outside scripts and fonts, so it is not offered.
        docs_url=None,
        redoc_url=None,
    )
    if explicit:
        # Routes read settings through Depends(get_settings); they must see these too.
        chosen = settings
        app.dependency_overrides[get_settings] = lambda: chosen

    install_error_handlers(app)
    _install_middleware(app, settings)

    @app.get("/healthz", tags=["health"], summary="Liveness probe")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)

    mount_web(app)
    _install_docs(app)
    _hoist_schema_definitions(app, settings)
    return app


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    # Added innermost first: the security headers wrap everything, so the 413 and CORS
    # answers carry them too; CORS wraps the body limit so a browser can read the 413;
    # the body limit wraps the guard that reads every body (app.api.bodies), so that
    # reading stops at the limit. The guard wraps the request slots, so that a request
    # waits for a slot with its body read.
    app.add_middleware(
        RequestSlots,
        slots=settings.db_pool_size,
        wait_seconds=settings.request_slot_wait_seconds,
        # The liveness probe does no database work: a busy process is still alive.
        exempt_paths=("/healthz", f"{API_PREFIX}/solve"),
    )
    app.add_middleware(RequestGuard)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match"],
            expose_headers=["ETag", "Location"],
        )
    app.add_middleware(AllowOnMethodNotAllowed)
    app.add_middleware(SecurityHeaders)


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _docs_csp(html: str) -> str:
    # Swagger UI boots from one inline script; allow exactly that script by its hash
    # instead of 'unsafe-inline'. Its styles are injected at run time, hence style-src.
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        "default-src 'none'; "
        f"script-src https://cdn.jsdelivr.net {hashes}; "
        "style-src https://cdn.jsdelivr.net 'unsafe-inline'; "
        "img-src 'self' data: https://fastapi.tiangolo.com; "
        "connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def _install_docs(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "").rstrip("/")
        response = get_swagger_ui_html(
            openapi_url=f"{root_path}{app.openapi_url}",
            title=f"{app.title} - API docs",
            # No call to the public validator service: the spec stays on this host.
            swagger_ui_parameters={"validatorUrl": None},
        )
        response.headers["Content-Security-Policy"] = _docs_csp(bytes(response.body).decode())
        return response


def _hoist_schema_definitions(app: FastAPI, settings: Settings) -> None:
    """Move `$defs` that routes embed in their body/response schemas to components.schemas.

    A route whose body is documented by hand (not a FastAPI model) ships its definitions
    with it, already referenced as `#/components/schemas/NAME`; OpenAPI wants them there.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                for media in _media_types(operation):
                    schema = media.get("schema", {})
                    if "$defs" in schema:
                        # A copy without them: the route's own dict is shared by every app.
                        components.update(schema["$defs"])
                        media["schema"] = {k: v for k, v in schema.items() if k != "$defs"}
        # What every route answers besides its own responses (422, 413, 429, ...).
        return complete_document(document, max_page_size=settings.max_page_size)

    app.openapi = openapi  # type: ignore[method-assign]


def _media_types(operation: dict[str, Any]) -> list[dict[str, Any]]:
    bodies = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
    return [media for body in bodies for media in body.get("content", {}).values()]


app = create_app()
