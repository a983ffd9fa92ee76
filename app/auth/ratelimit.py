"""Abuse limits on the API's front door: failed token checks, requests per token.

Sliding-window limiters kept in this process's memory. Decided for a service used from
offices behind one NAT and, in production, behind a reverse proxy:

* **a bad token, per client address** (``settings.auth_failure_limit`` per
  ``auth_failure_window_seconds``): the same bad token (malformed, unknown, expired,
  revoked) presented that many times from one address is then answered 429 without
  being looked up, until its oldest failure leaves the window. That is the broken
  script retrying an expired token: it stops costing a lookup and a log line, and
  nobody else at its address is affected, since the key is the address *and* the
  token's fingerprint (its SHA-256, as stored; the token itself is never kept).
* **bad tokens per client address, whatever the token**
  (``settings.auth_failure_address_limit`` per the same window): past it, every failed
  token check from that address is answered 429 instead of 401, so a guesser spraying
  new tokens is told to back off (a token is 256 random bits: guessing is hopeless
  anyway). A request that carries a **valid** token is never refused by either limit:
  it is always looked up, and a colleague behind the same NAT as a broken script or a
  guesser keeps working. Requests without a token are not counted (they learn nothing).
* **requests per token** (``settings.token_rate_limit`` per ``token_rate_window_seconds``;
  0 turns it off): one leaked or runaway script cannot starve the others.

The client address is the TCP peer's. ``X-Forwarded-For`` is trusted only from the
proxies named in ``settings.trusted_proxies`` (empty by default: `poolbuy serve` turns
uvicorn's proxy headers off, so nobody can walk past the limits by sending the header);
see ``app.cli.serve_options`` and docs/reliability.md.

All answer RFC 9457 problem details with status 429 and ``Retry-After`` (whole
seconds). The counters are per process: with N uvicorn workers a client gets up to N
times the limit, which is still a limit; a shared store (Redis) is the step after.
Why not a library: the rules are a few lines over one data structure, and the
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

    token_failures: SlidingWindow  # key: address + token fingerprint
    address_failures: SlidingWindow  # key: address
    token_requests: SlidingWindow  # key: token fingerprint

    def check_failed_token(self, client: str, fingerprint: str) -> None:
        """429 if this very token already failed too often from this address."""
        wait = self.token_failures.retry_after(f"{client} {fingerprint}")
        if wait is not None:
            raise TooManyRequests(
                "this token was refused too many times from your address; wait, then "
                "send a valid one",
                wait,
            )

    def failed(self, client: str, fingerprint: str) -> float | None:
        """Count a failed token check; the seconds to wait if the address is past its limit."""
        self.token_failures.hit(f"{client} {fingerprint}")
        if self.address_failures.hit(client) is None:
            return None
        return self.address_failures.retry_after(client)

    def check_token(self, fingerprint: str) -> None:
        wait = self.token_requests.hit(fingerprint)
        if wait is not None:
            raise TooManyRequests(
                f"this token made more than {self.token_requests.limit} requests in "
                f"{self.token_requests.window:g} seconds; wait and retry",
                wait,
            )


def too_many_failures(wait: float) -> TooManyRequests:
    return TooManyRequests(
        "too many requests with invalid tokens from your address; wait and retry "
        "(requests with a valid token are not affected)",
        wait,
    )
