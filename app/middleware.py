"""ASGI middleware the whole service shares: the request body limit, security headers and
the cap on requests in flight.

Both are plain ASGI (not BaseHTTPMiddleware) so they see the body as it streams in and
never buffer a response.
"""

import asyncio
import logging
import weakref
from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge, ServiceUnavailable, error_response, problem_response


class _BodyTooLarge(Exception):
    """Raised from `receive` the moment the body passes the limit."""


class BodySizeLimit:
    """Answer 413 problem details to any request whose body exceeds `max_body_bytes`.

    A declared Content-Length over the limit is refused before the app runs. A chunked body
    (no Content-Length, or a lying one) is counted as it streams; at the first chunk over
    the limit the app's read fails and whatever it was about to answer is replaced by the
    413, so at most `max_body_bytes` plus one chunk is ever held in memory.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # After the overflow the app can only be answering its own failed read (FastAPI
            # turns it into a 400): drop that, the 413 below replaces it.
            if exceeded and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(self.max_body_bytes)
        # The rest of the body is never read, so the connection cannot be reused.
        headers = {**error.headers, "Connection": "close"}
        await error_response(error, scope.get("path"), headers)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        # The server rejects a malformed Content-Length itself; counting still applies.
        return None


# The API only ever returns JSON, so nothing may load, frame or submit from its responses.
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

DEFAULT_SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", STRICT_CSP),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


class SecurityHeaders:
    """Add security headers to every HTTP response that does not set its own.

    A response may set a looser Content-Security-Policy for itself (the /docs page does);
    everything else gets the strict one.
    """

    def __init__(
        self, app: ASGIApp, headers: Iterable[tuple[str, str]] = DEFAULT_SECURITY_HEADERS
    ) -> None:
        self.app = app
        self.headers = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if started:
                raise
            # Starlette answers an unhandled error from its outermost middleware, outside
            # this one, so its 500 would go out bare: answer it here, with the headers.
            # Re-raised afterwards, as Starlette does, so the server still logs it.
            logging.getLogger("poolbuy").exception("unhandled error on %s", scope.get("path"))
            response = problem_response(500, "Internal server error", "", None, scope.get("path"))
            await response(scope, receive, send_with_headers)
            raise


class AllowOnMethodNotAllowed:
    """Make a 405's ``Allow`` list every method the path takes (RFC 9110, 15.5.6).

    The router answers 405 from the first route whose path matched, so ``GET /tokens``
    would advertise ``GET`` alone although ``POST /tokens`` exists too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = _methods_for(scope)
                if methods:
                    MutableHeaders(scope=message)["Allow"] = ", ".join(methods)
            await send(message)

        await self.app(scope, receive, send_with_allow)


def _methods_for(scope: Scope) -> list[str]:
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Match

    app = scope.get("app")
    if app is None:
        return []
    # Routes whose pattern matches the path, by how many path parameters they take: a
    # literal path ("/offers/import") is its own resource even though "/offers/{offer_id}"
    # would match it too.
    matched: dict[int, set[str]] = {}
    for route in iter_route_contexts(app.routes):
        if route.methods and route.matches({**scope, "method": "GET"})[0] != Match.NONE:
            params = len(getattr(route, "param_convertors", {}) or {})
            matched.setdefault(params, set()).update(route.methods)
    methods = matched[min(matched)] if matched else set()
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


class RequestSlots:
    """At most ``slots`` requests at work in this process; the others wait their turn.

    Without a cap a burst locks the service up: a request that authenticated holds a
    pooled connection (its transaction is open) while it waits for a thread of the pool
    FastAPI runs sync code in; with more requests in flight than connections and threads
    together, every thread can be waiting for a connection that only a request waiting
    for a thread would hand back, until the pool's timeout fails them all (seen: 80
    concurrent submissions, 80 errors after 30 s, none served). With no more requests at
    work than the pool has connections, each one that needs a connection gets one.

    ``slots`` is the pool's size (``db_pool_size``), not its size with the overflow: the
    overflow is left to what runs beside the requests (the sweeper, the embedded jobs'
    threads, a request's clean-up). Fewer requests at work at once also means fewer
    threads taking turns with the GIL: the submission bench served a third more with 5
    slots than with 15 (``docs/performance.md``, API load).

    A request waits on the event loop, costing no thread and no connection. Its body is
    already read (``app.api.bodies.RequestGuard`` wraps this middleware), and its slot is
    handed on when its answer starts (routes build the whole answer before sending it),
    so neither a slow upload nor a slow download holds one. ``exempt_paths`` take no slot:
    routes that do no database work (the liveness probe) or whose long work is not the
    database's (``POST /solve`` computes for minutes in the solver's processes). One
    that waits ``wait_seconds`` answers 503 with Retry-After. Each event loop has its own
    slots: a test client runs its own loop.
    """

    def __init__(
        self,
        app: ASGIApp,
        slots: int,
        wait_seconds: float,
        exempt_paths: Iterable[str] = (),
    ) -> None:
        if slots < 1:
            raise ValueError("RequestSlots needs at least one slot")
        self.app = app
        self.slots = slots
        self.wait_seconds = wait_seconds
        self.exempt_paths = frozenset(exempt_paths)
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._by_loop = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            semaphore = self._by_loop[loop] = asyncio.Semaphore(self.slots)
        return semaphore

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        semaphore = self._semaphore()
        try:
            async with asyncio.timeout(self.wait_seconds):
                await semaphore.acquire()
        except TimeoutError:
            busy = ServiceUnavailable(
                f"every one of the {self.slots} request slots stayed busy for "
                f"{self.wait_seconds:g} s; nothing was changed, try again shortly"
            )
            await error_response(busy, scope.get("path"))(scope, receive, send)
            return
        held = True

        def hand_on() -> None:
            nonlocal held
            if held:
                held = False
                semaphore.release()

        async def send_and_hand_on(message: Message) -> None:
            if message["type"] == "http.response.start":
                hand_on()
            await send(message)

        try:
            await self.app(scope, receive, send_and_hand_on)
        finally:
            hand_on()
