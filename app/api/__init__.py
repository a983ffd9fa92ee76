"""Conventions every ``/api/v1`` route follows; import them from here.

- ``Page``, ``PageParamsDep``, ``paginate``: capped ``limit``/``offset`` lists
  (``app.api.pagination``).
- ``etag_for``, ``set_etag``, ``IfMatchDep``: ETags from ``version`` and 412/428
  on updates (``app.api.etags``).
- ``IdempotencyDep``: ``Idempotency-Key`` on create POSTs; the store
  (``Idempotency``, ``app.api.idempotency``) imports no web framework, the
  dependency is ``app.api.deps``.
- ``API_PREFIX``: ``app.main`` mounts every domain router there, so a router
  itself is ``APIRouter(tags=[...])`` with paths like ``"/needs/{need_id}"``;
  use the prefix only to build URLs (``Location`` headers).

Errors are raised as ``app.errors`` domain errors; never build a response by hand.
"""

from app.api.deps import IdempotencyDep, RequestIdempotency
from app.api.etags import IfMatch, IfMatchDep, etag_for, set_etag
from app.api.idempotency import Idempotency
from app.api.pagination import Page, PageParams, PageParamsDep, paginate

API_PREFIX = "/api/v1"

__all__ = [
    "API_PREFIX",
    "Idempotency",
    "IdempotencyDep",
    "IfMatch",
    "IfMatchDep",
    "Page",
    "PageParams",
    "PageParamsDep",
    "RequestIdempotency",
    "etag_for",
    "paginate",
    "set_etag",
]
