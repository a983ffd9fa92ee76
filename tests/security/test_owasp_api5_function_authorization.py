"""OWASP API5:2023 Broken Function Level Authorization: every role against every action.

The statuses themselves are the access matrix (``test_access_matrix.py``: every route x
every role x own/other agency). Here, rules over the whole matrix, so that a new route
cannot open an action to everyone by accident:

* nothing but the liveness probe, the schema and the docs answers without a token;
* every action (any method but GET) is refused to at least one role, unless listed in
  ``OPEN_TO_EVERY_ROLE`` with the reason;
* what only admins do is refused to coordinators, and what only coordinators do is
  refused to admins (an admin manages accounts, not rounds' runs).
"""

from __future__ import annotations

import pytest

from tests.security.test_access_matrix import ROUTES, WEB_ROUTES
from tests.security.world import CALLERS

# Actions every signed-in user may take, and why that is safe.
OPEN_TO_EVERY_ROLE = {
    "POST /api/v1/tokens": "a token for oneself only; the owner is never in the body",
    "POST /api/v1/solve": "solves the caller's own document; reads and stores nothing",
}
DENIED = {401, 403, 404, 303}


@pytest.mark.parametrize("key", sorted(ROUTES))
def test_no_api_route_answers_without_a_token(key: str) -> None:
    assert ROUTES[key].status_for("anonymous") == 401, key


@pytest.mark.parametrize("key", sorted(WEB_ROUTES))
def test_no_web_page_shows_anything_without_a_session(key: str) -> None:
    if key in ("GET /sign-in", "POST /sign-in"):
        return
    assert WEB_ROUTES[key].status_for("anonymous") in (303, 401), key


def test_every_action_is_refused_to_some_role() -> None:
    open_actions = []
    for key, call in {**ROUTES, **WEB_ROUTES}.items():
        method = key.split(" ", 1)[0]
        if method == "GET" or key in OPEN_TO_EVERY_ROLE or key.endswith(("/sign-in", "/sign-out")):
            continue
        signed_in = [c for c in CALLERS if c != "anonymous"]
        if not any(call.status_for(c) in DENIED for c in signed_in):
            open_actions.append(key)
    assert not open_actions, f"actions every role may take, without a reason: {open_actions}"


def test_admin_and_coordinator_functions_stay_apart() -> None:
    admin_only = [
        k
        for k, c in ROUTES.items()
        if c.status_for("admin") < 400
        and all(c.status_for(x) >= 400 for x in CALLERS if x != "admin")
    ]
    coordinator_only = [
        k
        for k, c in ROUTES.items()
        if c.status_for("coordinator") < 400
        and all(c.status_for(x) >= 400 for x in CALLERS if x != "coordinator")
    ]
    assert "POST /api/v1/users" in admin_only and "PATCH /api/v1/users/{user_id}" in admin_only
    assert "POST /api/v1/rounds/{round_id}/close" in coordinator_only
    assert "POST /api/v1/runs/{run_id}/approvals" not in coordinator_only
    for key in admin_only:
        assert ROUTES[key].status_for("coordinator") == 403, key
    for key in coordinator_only:
        assert ROUTES[key].status_for("admin") in (403, 409), key
