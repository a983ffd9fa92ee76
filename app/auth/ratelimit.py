"""Abuse limits on the API's front door: failed token checks per client, requests per token.

Two sliding-window limiters, kept in this process's memory:

* **failed authentication** per client address (``settings.auth_failure_limit`` per
  ``auth_failure_window_seconds``): once a client has presented that many bad tokens
  (malformed, unknown, expired, revoked), every request from it that carries a token is
  answered 429 without looking the token up, until the oldest failure leaves the window.
  A token is 256 random bits, so guessing one is hopeless anyway; the limit keeps a
  guesser from turning the API into a fast oracle, and keeps the log readable. Requests
  without a token are not counted (they learn nothing). Behind a reverse proxy, run
  uvicorn with ``--proxy-headers`` so the address is the client's, not the proxy's.
* **requests per token** (``settings.token_rate_limit`` per ``token_rate_window_seconds``;
  0 turns it off): one leaked or runaway script cannot starve the others.

Both answer RFC 9457 problem details with status 429 and ``Retry-After`` (whole
seconds). The counters are per process: with N uvicorn workers a client gets up to N
times the limit, which is still a limit; a shared store (Redis) is the step after.
Why not a library: the two rules are a few lines over one data structure, and the
libraries on offer either key on the address only or bring a store along.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from app.errors import DomainError


class TooManyRequests(DomainError):
    def __init__(self, detail: str, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(429, "Too many requests", detail, headers={"Retry-After": str(seconds)})


@dataclass
class SlidingWindow:
    """At most ``limit`` events per key in any ``window`` seconds.

    Memory is bounded: at most ``max_keys`` keys are tracked, the least recently used
    forgotten first (forgetting only ever lets a client through earlier).
    """

    limit: int
    window: float
    max_keys: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _events: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            events = deque()
            self._events[key] = events
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may act again, or None if it may now (counts nothing)."""
        if not self.enabled:
            return None
        with self._lock:
            now = self.clock()
            events = self._recent(key, now)
            if len(events) < self.limit:
                return None
            return events[0] + self.window - now

    def hit(self, key: str) -> float | None:
        """Count one event for ``key`` if allowed; else the seconds to wait (not counted)."""
        if not self.enabled:
            return None
        with self._lock:
            now = self.clock()
            events = self._recent(key, now)
            if len(events) >= self.limit:
                return events[0] + self.window - now
            events.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._events.clear()


@dataclass
class Limits:
    """The limiters of one application instance (kept on ``app.state``)."""

    auth_failures: SlidingWindow
    token_requests: SlidingWindow

    def check_client(self, client: str) -> None:
        wait = self.auth_failures.retry_after(client)
        if wait is not None:
            raise TooManyRequests(
                "too many requests with invalid tokens from your address; wait and retry",
                wait,
            )

    def failed(self, client: str) -> None:
        self.auth_failures.hit(client)

    def check_token(self, token_key: str) -> None:
        wait = self.token_requests.hit(token_key)
        if wait is not None:
            raise TooManyRequests(
                f"this token made more than {self.token_requests.limit} requests in "
                f"{self.token_requests.window:g} seconds; wait and retry",
                wait,
            )
