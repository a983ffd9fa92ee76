"""Access control matrix: every route of the service x every role x own or other agency.

``ROUTES`` below classifies EVERY route ``create_app()`` serves (API and web pages);
``test_every_route_is_classified`` fails when a route is added without a row here, so
a new route cannot reach CI without an access rule.

Each row names the call (path with world objects in braces, body, If-Match) and the
status each caller must get. The targeted objects belong to agency A (see
``tests/security/world.py``): ``<role>/own`` is a user of A, ``<role>/other`` a user of
B. A key without a side (``local_team``) covers both; ``*`` is everyone not named.
The expected statuses read as the rules of the service:

* 401 without a token; 403 when the caller may see the object but not do this;
* 404 when the caller may not even know the object exists (another agency's draft);
* a plan and its outputs are visible to every member agency once the round is optimised.

Every response to agency B's users is also checked for agency A's draft (its
justification is a marker no other row carries), and no response carries a token hash.
Every call is undone before the next caller's, so all callers meet the same world.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.security.world import CALLERS, DRAFT_MARKER, World, build_world, undone

pytestmark = pytest.mark.integration

API = "/api/v1"
# Routes that are not the service's own: the schema, the docs page, static files, liveness.
UNGUARDED = {"GET /openapi.json", "GET /docs", "GET /healthz", "GET /static/{path}"}

NEED_BODY = {
    "item_id": "{item}",
    "location_id": "{location}",
    "quantity": 10,
    "need_by": "2099-01-01",
    "priority": "normal",
}
REVIEW_BODY = {"priority": "critical", "evidence": "cases up 40%", "source": "MINSA week 46"}
NEEDS_CSV = (
    "item,location,quantity,need_by,priority,justification\n"
    "{item},{location},5,2099-01-01,normal,\n"
)
NEEDS_HXL = (
    "item,location,quantity,need_by,priority\n"
    "#item+code,#loc+code,#indicator+num+quantity,#date+needed,#severity+priority\n"
    "{item},{location},5,2099-01-01,normal\n"
)


@dataclass(frozen=True)
class Call:
    """One request and what each caller must get (``"anonymous=401 admin=200 *=403"``)."""

    path: str
    expect: str
    json: Any = None
    if_match: str | None = None
    upload: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    # Web forms carry the ETag they were rendered with in a hidden field.
    etag_field: str | None = None

    def status_for(self, caller: str) -> int:
        rules = dict(part.split("=") for part in self.expect.split())
        role = caller.split("/")[0]
        for key in (caller, role, "*"):
            if key in rules:
                return int(rules[key])
        raise AssertionError(f"no expectation for {caller} in {self.expect!r}")


# Shorthands for the common rules.
ANY = "anonymous=401 *=200"
ADMIN = "anonymous=401 admin={ok} *=403"
MANAGER = "anonymous=401 coordinator={ok} admin={ok} *=403"
CATALOGUE = "anonymous=401 technical_specialist={ok} admin={ok} *=403"
COORDINATOR = "anonymous=401 coordinator={ok} *=403"
# A draft of A: A's users see it; B's users, and users of no agency, do not.
DRAFT = (
    "anonymous=401 local_team/own={ok} technical_specialist/own={ok} chief_of_mission/own={ok}"
    " *=404"
)


def only(rule: str, ok: int) -> str:
    return rule.format(ok=ok)


ROUTES: dict[str, Call] = {
    # ------------------------------------------------------------- agencies, users, tokens
    "GET /api/v1/me": Call("/me", ANY),
    "GET /api/v1/tokens": Call("/tokens", ANY),
    "POST /api/v1/tokens": Call("/tokens", "anonymous=401 *=201", json={"name": "laptop"}),
    # A token is its user's: anyone else (an admin excepted) is told it does not exist.
    "DELETE /api/v1/tokens/{token_id}": Call(
        "/tokens/{token}", "anonymous=401 local_team/own=204 admin=204 *=404"
    ),
    "GET /api/v1/agencies": Call("/agencies", ANY),
    "GET /api/v1/agencies/{agency_id}": Call("/agencies/{agency_a}", ANY),
    "POST /api/v1/agencies": Call("/agencies", only(ADMIN, 201), json={"id": "ZZTOP", "name": "Z"}),
    "GET /api/v1/users": Call("/users", only(ADMIN, 200)),
    "POST /api/v1/users": Call(
        "/users", only(ADMIN, 201), json={"email": "new@example.org", "name": "New"}
    ),
    "GET /api/v1/users/{user_id}": Call("/users/{user}", only(ADMIN, 200)),
    "PATCH /api/v1/users/{user_id}": Call(
        "/users/{user}", only(ADMIN, 200), json={"name": "Renamed"}, if_match="user"
    ),
    # ------------------------------------------------------------------------ audit
    "GET /api/v1/audit": Call("/audit", only(MANAGER, 200)),
    "GET /api/v1/audit/verify": Call("/audit/verify", only(MANAGER, 200)),
    # ----------------------------------------------------------------------- rounds
    "GET /api/v1/rounds": Call("/rounds", ANY),
    "POST /api/v1/rounds": Call(
        "/rounds", only(MANAGER, 201), json={"name": "R", "deadline": "2099-01-01T12:00:00Z"}
    ),
    "GET /api/v1/rounds/{round_id}": Call("/rounds/{open}", ANY),
    "PATCH /api/v1/rounds/{round_id}": Call(
        "/rounds/{open}", only(MANAGER, 200), json={"name": "Renamed"}, if_match="open"
    ),
    # ------------------------------------------------------------------------ needs
    "GET /api/v1/needs": Call("/needs", ANY),
    "GET /api/v1/rounds/{round_id}/needs": Call("/rounds/{open}/needs", ANY),
    # A local team creates needs for its own agency only (the agency is never in the body).
    "POST /api/v1/rounds/{round_id}/needs": Call(
        "/rounds/{open}/needs", "anonymous=401 local_team=201 *=403", json=NEED_BODY
    ),
    "GET /api/v1/needs/{need_id}": Call("/needs/{draft_a}", only(DRAFT, 200)),
    # Another agency's draft is invisible (404) even to its local team; A's other roles
    # see it but do not edit it (403).
    "PATCH /api/v1/needs/{need_id}": Call(
        "/needs/{draft_a}",
        "anonymous=401 local_team/own=200 technical_specialist/own=403 chief_of_mission/own=403"
        " *=404",
        json={"quantity": 7},
        if_match="draft_a",
    ),
    "POST /api/v1/needs/{need_id}/submit": Call(
        "/needs/{draft_a}/submit",
        "anonymous=401 local_team/own=200 technical_specialist/own=403 chief_of_mission/own=403"
        " *=404",
        if_match="draft_a",
    ),
    # A submitted need is seen by all; only its own agency's local team withdraws it.
    "POST /api/v1/needs/{need_id}/withdraw": Call(
        "/needs/{submitted_a}/withdraw",
        "anonymous=401 local_team/own=200 *=403",
        if_match="submitted_a",
    ),
    # A coordinator (or an admin) sets aside a need that blocks the close, any agency's.
    "POST /api/v1/needs/{need_id}/set-aside": Call(
        "/needs/{submitted_a}/set-aside",
        only(MANAGER, 200),
        json={"reason": "need_by cannot be planned"},
        if_match="submitted_a",
    ),
    # The group's health lead reviews every agency's submitted needs.
    "POST /api/v1/needs/{need_id}/priority-reviews": Call(
        "/needs/{submitted_a}/priority-reviews",
        "anonymous=401 technical_specialist=201 *=403",
        json=REVIEW_BODY,
    ),
    "GET /api/v1/needs/{need_id}/priority-reviews": Call(
        "/needs/{draft_a}/priority-reviews", only(DRAFT, 200)
    ),
    "GET /api/v1/rounds/{round_id}/duplicates": Call("/rounds/{open}/duplicates", ANY),
    "GET /api/v1/rounds/{round_id}/3w": Call("/rounds/{open}/3w", ANY),
    # -------------------------------------------------------------------- catalogue
    **{
        f"GET /api/v1/{kind}s": Call(f"/{kind}s", ANY)
        for kind in ("item", "location", "supplier", "offer", "route")
    },
    **{
        f"GET /api/v1/{kind}s/{{{kind}_id}}": Call(f"/{kind}s/{{{kind}}}", ANY)
        for kind in ("item", "location", "supplier", "offer", "route")
    },
    **{
        f"PATCH /api/v1/{kind}s/{{{kind}_id}}": Call(
            f"/{kind}s/{{{kind}}}", only(CATALOGUE, 200), json=body, if_match=kind
        )
        for kind, body in (
            ("item", {"name": "Renamed"}),
            ("location", {"name": "Renamed"}),
            ("supplier", {"name": "Renamed"}),
            ("offer", {"capacity": 40_000}),
            ("route", {"transit_days": 4}),
        )
    },
    **{
        f"DELETE /api/v1/{kind}s/{{{kind}_id}}": Call(
            f"/{kind}s/{{spare_{kind}}}", only(CATALOGUE, 204), if_match=f"spare_{kind}"
        )
        for kind in ("item", "location", "supplier", "offer", "route")
    },
    "POST /api/v1/items": Call(
        "/items",
        only(CATALOGUE, 201),
        json={"id": "zz-new", "name": "New", "unit": "each", "category": "PPE"},
    ),
    "POST /api/v1/locations": Call(
        "/locations", only(CATALOGUE, 201), json={"id": "zz-new", "name": "New", "region": "Darién"}
    ),
    "POST /api/v1/suppliers": Call(
        "/suppliers", only(CATALOGUE, 201), json={"id": "zz-new", "name": "New", "country": "PA"}
    ),
    "POST /api/v1/offers": Call(
        "/offers",
        only(CATALOGUE, 201),
        json={
            "supplier_id": "{supplier}",
            "item_id": "{spare_item}",
            "capacity": 100,
            "lead_time_days": 5,
            "valid_from": "2026-01-01",
            "price_tiers": [{"min_quantity": 0, "unit_price": "1.00"}],
        },
    ),
    "POST /api/v1/routes": Call(
        "/routes",
        only(CATALOGUE, 201),
        json={
            "supplier_id": "{supplier}",
            "location_id": "{spare_location}",
            "fixed_cost": "10",
            "unit_cost": "0.1",
            "transit_days": 2,
        },
    ),
    # --------------------------------------------------------------------- sourcing
    **{
        f"GET /api/v1/{path}": Call(f"/{path}", ANY)
        for path in ("capacity-groups", "award-rules", "supplier-exclusions")
    },
    "GET /api/v1/capacity-groups/{group_id}": Call("/capacity-groups/{group}", ANY),
    "GET /api/v1/award-rules/{rule_id}": Call("/award-rules/{rule}", ANY),
    "GET /api/v1/supplier-exclusions/{exclusion_id}": Call("/supplier-exclusions/{exclusion}", ANY),
    "POST /api/v1/capacity-groups": Call(
        "/capacity-groups",
        only(CATALOGUE, 201),
        json={
            "supplier_id": "{supplier}",
            "name": "Plant",
            "capacity": 10,
            "offer_ids": ["{offer}"],
        },
    ),
    "PATCH /api/v1/capacity-groups/{group_id}": Call(
        "/capacity-groups/{group}", only(CATALOGUE, 200), json={"capacity": 5}, if_match="group"
    ),
    "DELETE /api/v1/capacity-groups/{group_id}": Call(
        "/capacity-groups/{group}", only(CATALOGUE, 204), if_match="group"
    ),
    "POST /api/v1/award-rules": Call(
        "/award-rules",
        only(CATALOGUE, 201),
        json={
            "kind": "min_suppliers",
            "item_id": "{item}",
            "limit": 2,
            "penalty": 100,
            "reason": "supply risk",
        },
    ),
    "PATCH /api/v1/award-rules/{rule_id}": Call(
        "/award-rules/{rule}", only(CATALOGUE, 200), json={"limit": 2}, if_match="rule"
    ),
    "DELETE /api/v1/award-rules/{rule_id}": Call(
        "/award-rules/{rule}", only(CATALOGUE, 204), if_match="rule"
    ),
    # An exclusion is recorded and lifted for an agency by its own specialists (or an admin).
    "POST /api/v1/supplier-exclusions": Call(
        "/supplier-exclusions",
        "anonymous=401 technical_specialist/own=201 admin=201 *=403",
        json={
            "agency_id": "{agency_a}",
            "supplier_id": "{spare_supplier}",
            "evidence": "sanctions",
            "source": "committee minute 41",
        },
    ),
    "DELETE /api/v1/supplier-exclusions/{exclusion_id}": Call(
        "/supplier-exclusions/{exclusion}",
        "anonymous=401 technical_specialist/own=204 admin=204 *=403",
        if_match="exclusion",
    ),
    # A budget is its own agency's chief's; A has one already, B not yet.
    "GET /api/v1/rounds/{round_id}/budgets": Call("/rounds/{open}/budgets", ANY),
    "POST /api/v1/rounds/{round_id}/budgets": Call(
        "/rounds/{open}/budgets",
        "anonymous=401 chief_of_mission/own=409 chief_of_mission/other=201 *=403",
        json={"amount": 5000},
    ),
    "GET /api/v1/budgets/{budget_id}": Call("/budgets/{budget}", ANY),
    "PATCH /api/v1/budgets/{budget_id}": Call(
        "/budgets/{budget}",
        "anonymous=401 chief_of_mission/own=200 *=403",
        json={"amount": 7000},
        if_match="budget",
    ),
    "DELETE /api/v1/budgets/{budget_id}": Call(
        "/budgets/{budget}", "anonymous=401 chief_of_mission/own=204 *=403", if_match="budget"
    ),
    # ----------------------------------------------------------------- runs, approvals
    "POST /api/v1/rounds/{round_id}/close": Call("/rounds/{open}/close", only(COORDINATOR, 201)),
    "POST /api/v1/rounds/{round_id}/runs": Call("/rounds/{done}/runs", only(COORDINATOR, 201)),
    # Once optimised, every member agency sees the round's runs and outputs in full.
    "GET /api/v1/rounds/{round_id}/runs": Call("/rounds/{done}/runs", ANY),
    "GET /api/v1/runs/{run_id}": Call("/runs/{run}", ANY),
    # A chief approves their own agency's share; B has none in this run; the coordinator
    # is no chief (and triggered the run: four-eyes).
    "POST /api/v1/runs/{run_id}/approvals": Call(
        "/runs/{run}/approvals",
        "anonymous=401 chief_of_mission/own=201 *=403",
        json={"decision": "approved"},
    ),
    "GET /api/v1/runs/{run_id}/approvals": Call("/runs/{run}/approvals", ANY),
    # No decision yet: nobody finds one (the route is still behind the token).
    "GET /api/v1/runs/{run_id}/approvals/{agency_id}": Call(
        "/runs/{run}/approvals/{agency_a}", "anonymous=401 *=404"
    ),
    "GET /api/v1/runs/{run_id}/purchase-orders": Call("/runs/{run}/purchase-orders", ANY),
    "GET /api/v1/runs/{run_id}/cost-statements": Call("/runs/{run}/cost-statements", ANY),
    "GET /api/v1/runs/{run_id}/unmet": Call("/runs/{run}/unmet", ANY),
    # --------------------------------------------------------------- data exchange
    "POST /api/v1/rounds/{round_id}/needs/import": Call(
        "/rounds/{open}/needs/import", "anonymous=401 local_team=201 *=403", upload=NEEDS_CSV
    ),
    "POST /api/v1/rounds/{round_id}/needs/import-hxl": Call(
        "/rounds/{open}/needs/import-hxl", "anonymous=401 local_team=201 *=403", upload=NEEDS_HXL
    ),
    # A file with no rows is refused (422) once the caller is let in.
    "POST /api/v1/offers/import": Call("/offers/import", only(CATALOGUE, 422), upload="x\n"),
    "POST /api/v1/routes/import": Call("/routes/import", only(CATALOGUE, 422), upload="x\n"),
    "POST /api/v1/award-rules/import": Call(
        "/award-rules/import", only(CATALOGUE, 422), upload="x\n"
    ),
    "GET /api/v1/templates/{kind}": Call("/templates/needs", ANY),
    "GET /api/v1/runs/{run_id}/plan.xlsx": Call("/runs/{run}/plan.xlsx", ANY),
    "GET /api/v1/runs/{run_id}/plan-csv.zip": Call("/runs/{run}/plan-csv.zip", ANY),
    "GET /api/v1/runs/{run_id}/plan/{sheet}.csv": Call("/runs/{run}/plan/agencies.csv", ANY),
    "GET /api/v1/runs/{run_id}/plan.hxl.csv": Call("/runs/{run}/plan.hxl.csv", ANY),
    "GET /api/v1/rounds/{round_id}/needs.hxl.csv": Call("/rounds/{open}/needs.hxl.csv", ANY),
    # Published only once approved: the done round is not yet.
    "GET /api/v1/rounds/{round_id}/ocds": Call("/rounds/{done}/ocds", "anonymous=401 *=409"),
    # ------------------------------------------------------------------------ solve
    "POST /api/v1/solve": Call(
        "/solve", "anonymous=401 *=200", json={"as_of": "2026-12-01", "currency": "USD"}
    ),
    # ------------------------------------------------------ jobs, scenarios, schedules
    "GET /api/v1/jobs": Call("/jobs", only(MANAGER, 200)),
    "GET /api/v1/jobs/{job_id}": Call("/jobs/{job}", ANY),
    # The run's job has finished: nothing left to cancel.
    "POST /api/v1/jobs/{job_id}/cancel": Call("/jobs/{job}/cancel", only(MANAGER, 409)),
    "POST /api/v1/runs/{run_id}/cancel": Call("/runs/{run}/cancel", only(COORDINATOR, 409)),
    "POST /api/v1/runs/{run_id}/scenarios": Call(
        "/runs/{run}/scenarios", only(COORDINATOR, 201), json={"name": "cost only"}
    ),
    "GET /api/v1/runs/{run_id}/scenarios": Call("/runs/{run}/scenarios", ANY),
    "GET /api/v1/scenarios/{scenario_id}": Call("/scenarios/{scenario}", ANY),
    "POST /api/v1/scenarios/{scenario_id}/cancel": Call(
        "/scenarios/{scenario}/cancel", only(COORDINATOR, 409)
    ),
    "POST /api/v1/runs/{run_id}/frontier": Call(
        "/runs/{run}/frontier", only(COORDINATOR, 201), json={"late_penalty_rates": [0, 0.5]}
    ),
    "GET /api/v1/runs/{run_id}/frontier": Call("/runs/{run}/frontier", ANY),
    "GET /api/v1/rounds/{round_id}/schedule": Call("/rounds/{open}/schedule", ANY),
    "PUT /api/v1/rounds/{round_id}/schedule": Call(
        "/rounds/{open}/schedule",
        only(MANAGER, 200),
        json={"timezone": "America/Panama"},
        if_match="open",
    ),
    "DELETE /api/v1/rounds/{round_id}/schedule": Call(
        "/rounds/{open}/schedule", only(MANAGER, 204), if_match="open"
    ),
    # ------------------------------------------------------------------- deliveries
    # Orders of an approved round are every member's to read; only the line's own
    # agency's local team records what arrives (another agency's team: 403; in an
    # import, its row is refused: 422).
    "GET /api/v1/purchase-orders": Call("/purchase-orders", ANY),
    "GET /api/v1/purchase-orders/{order_id}": Call("/purchase-orders/{purchase_order}", ANY),
    "GET /api/v1/order-lines": Call("/order-lines", ANY),
    "GET /api/v1/order-lines/{line_id}": Call("/order-lines/{line}", ANY),
    "GET /api/v1/order-lines/{line_id}/receipts": Call("/order-lines/{line}/receipts", ANY),
    "POST /api/v1/order-lines/{line_id}/receipts": Call(
        "/order-lines/{line}/receipts",
        "anonymous=401 local_team/own=201 *=403",
        json={"location_id": "{location}", "received_on": "{today}", "quantity_received": 1},
    ),
    "POST /api/v1/receipts/import": Call(
        "/receipts/import",
        "anonymous=401 local_team/own=201 local_team/other=422 *=403",
        upload="line_id,location,received_on,quantity_received\n{line},{location},{today},1\n",
    ),
    "POST /api/v1/order-lines/{line_id}/close-short": Call(
        "/order-lines/{line}/close-short",
        "anonymous=401 local_team/own=200 *=403",
        json={"reason": "supplier out of stock"},
        if_match="line",
    ),
    "GET /api/v1/supplier-records": Call("/supplier-records", ANY),
    "GET /api/v1/supplier-records/export": Call("/supplier-records/export", ANY),
    "GET /api/v1/suppliers/{supplier_id}/record": Call("/suppliers/{supplier}/record", ANY),
    "GET /api/v1/delivery-policy": Call("/delivery-policy", ANY),
    "PATCH /api/v1/delivery-policy": Call(
        "/delivery-policy", only(MANAGER, 200), json={"grace_days": 5}, if_match="policy"
    ),
    "GET /api/v1/rounds/{round_id}/lead-time-adjustments": Call(
        "/rounds/{open}/lead-time-adjustments", ANY
    ),
    "POST /api/v1/rounds/{round_id}/lead-time-adjustments": Call(
        "/rounds/{open}/lead-time-adjustments",
        "anonymous=401 technical_specialist=200 coordinator=200 *=403",
    ),
    "GET /api/v1/lead-time-adjustments/{adjustment_id}": Call(
        "/lead-time-adjustments/{adjustment}", ANY
    ),
    "POST /api/v1/lead-time-adjustments/{adjustment_id}/review": Call(
        "/lead-time-adjustments/{adjustment}/review",
        "anonymous=401 technical_specialist=200 *=403",
        json={"decision": "confirm", "evidence": "4 late deliveries", "source": "receipts"},
        if_match="adjustment",
    ),
    "GET /api/v1/runs/{run_id}/lead-time-adjustments": Call(
        "/runs/{run}/lead-time-adjustments", ANY
    ),
    "GET /api/v1/results": Call("/results", ANY),
    "GET /api/v1/results/export": Call("/results/export", ANY),
}

# Web pages: a signed-in browser (cookie session, CSRF token in every form). Without a
# session every page redirects to the sign-in page (303); a page another agency's user
# may not see is a 404 page, a page of a role the user lacks a 403 page; a form that
# did its work redirects (303).
SIGNED_IN = "anonymous=303 *=200"
WEB_ROUTES: dict[str, Call] = {
    "GET /": Call("/", "*=303"),
    "GET /sign-in": Call("/sign-in", "anonymous=200 *=303"),
    # A wrong token is refused whoever was signed in before.
    "POST /sign-in": Call("/sign-in", "*=401", form={"token": "pb_nope", "next": "/"}),
    "POST /sign-out": Call("/sign-out", "*=303"),
    "GET /rounds": Call("/rounds", SIGNED_IN),
    "POST /rounds": Call(
        "/rounds",
        "anonymous=303 coordinator=303 admin=303 *=403",
        form={"name": "R", "deadline": "2099-01-01T12:00", "currency": "USD"},
    ),
    "GET /rounds/{round_id}": Call("/rounds/{open}", SIGNED_IN),
    # Closing is confirmed on a page of its own, which lists the drafts left out.
    "GET /rounds/{round_id}/close": Call(
        "/rounds/{open}/close", "anonymous=303 coordinator=200 *=403"
    ),
    "POST /rounds/{round_id}/close": Call(
        "/rounds/{open}/close", "anonymous=303 coordinator=303 *=403", form={"confirm": "yes"}
    ),
    "POST /rounds/{round_id}/rerun": Call(
        "/rounds/{done}/rerun", "anonymous=303 coordinator=303 *=403"
    ),
    "GET /rounds/{round_id}/needs/new": Call(
        "/rounds/{open}/needs/new", "anonymous=303 local_team=200 *=403"
    ),
    "POST /rounds/{round_id}/needs/new": Call(
        "/rounds/{open}/needs/new",
        "anonymous=303 local_team=303 *=403",
        form={k: str(v) for k, v in NEED_BODY.items()},
    ),
    "GET /needs/{need_id}/edit": Call(
        "/needs/{draft_a}/edit",
        "anonymous=303 local_team/own=200 technical_specialist/own=403 chief_of_mission/own=403"
        " *=404",
    ),
    "POST /needs/{need_id}/edit": Call(
        "/needs/{draft_a}/edit",
        "anonymous=303 local_team/own=303 technical_specialist/own=403 chief_of_mission/own=403"
        " *=404",
        form={k: str(v) for k, v in NEED_BODY.items()},
        etag_field="draft_a",
    ),
    "POST /needs/{need_id}/submit": Call(
        "/needs/{draft_a}/submit",
        "anonymous=303 local_team/own=303 technical_specialist/own=403 chief_of_mission/own=403"
        " *=404",
        etag_field="draft_a",
    ),
    "POST /needs/{need_id}/withdraw": Call(
        "/needs/{submitted_a}/withdraw",
        "anonymous=303 local_team/own=303 *=403",
        etag_field="submitted_a",
    ),
    "GET /rounds/{round_id}/needs/upload": Call(
        "/rounds/{open}/needs/upload", "anonymous=303 local_team=200 *=403"
    ),
    "POST /rounds/{round_id}/needs/upload": Call(
        "/rounds/{open}/needs/upload", "anonymous=303 local_team=303 *=403", upload=NEEDS_CSV
    ),
    "GET /rounds/{round_id}/reviews": Call("/rounds/{open}/reviews", SIGNED_IN),
    "GET /needs/{need_id}/review": Call(
        "/needs/{draft_a}/review", only(DRAFT, 200).replace("anonymous=401", "anonymous=303")
    ),
    "POST /needs/{need_id}/review": Call(
        "/needs/{submitted_a}/review",
        "anonymous=303 technical_specialist=303 *=403",
        form=REVIEW_BODY,
    ),
    # The catalogue's front page sends on to the items.
    "GET /catalogue": Call("/catalogue", "*=303"),
    "GET /catalogue/items": Call("/catalogue/items", SIGNED_IN),
    "GET /catalogue/suppliers": Call("/catalogue/suppliers", SIGNED_IN),
    "GET /catalogue/offers": Call("/catalogue/offers", SIGNED_IN),
    "GET /catalogue/routes": Call("/catalogue/routes", SIGNED_IN),
    "GET /catalogue/{kind}/upload": Call(
        "/catalogue/offers/upload", "anonymous=303 technical_specialist=200 admin=200 *=403"
    ),
    "POST /catalogue/{kind}/upload": Call(
        "/catalogue/routes/upload",
        "anonymous=303 technical_specialist=422 admin=422 *=403",
        upload="x\n",
    ),
    "GET /catalogue/locations": Call("/catalogue/locations", SIGNED_IN),
    # One row of the catalogue at a time: technical specialists and admins only.
    "GET /catalogue/{kind}/new": Call(
        "/catalogue/offers/new", "anonymous=303 technical_specialist=200 admin=200 *=403"
    ),
    "POST /catalogue/{kind}/new": Call(
        "/catalogue/offers/new",
        "anonymous=303 technical_specialist=303 admin=303 *=403",
        form={
            "supplier_id": "{supplier}",
            "item_id": "{spare_item}",
            "tier_min_quantity_0": "0",
            "tier_unit_price_0": "1.00",
            "capacity": "100",
            "lead_time_days": "5",
            "valid_from": "2026-01-01",
        },
    ),
    "GET /catalogue/{kind}/{key}/edit": Call(
        "/catalogue/offers/{offer}/edit", "anonymous=303 technical_specialist=200 admin=200 *=403"
    ),
    "POST /catalogue/{kind}/{key}/edit": Call(
        "/catalogue/routes/{route}/edit",
        "anonymous=303 technical_specialist=303 admin=303 *=403",
        form={"fixed_cost": "10", "unit_cost": "0.1", "transit_days": "4"},
        etag_field="route",
    ),
    # Award rules in the catalogue: everyone reads them, specialists and admins keep them.
    "GET /catalogue/rules": Call("/catalogue/rules", SIGNED_IN),
    "POST /catalogue/rules/{key}/delete": Call(
        "/catalogue/rules/{rule}/delete",
        "anonymous=303 technical_specialist=303 admin=303 *=403",
        etag_field="rule",
    ),
    # Capacity groups and supplier exclusions, as the API's: everyone reads them; groups are
    # deleted by specialists and admins, an exclusion lifted by its agency's own (or an admin).
    "GET /catalogue/groups": Call("/catalogue/groups", SIGNED_IN),
    "POST /catalogue/groups/{key}/delete": Call(
        "/catalogue/groups/{group}/delete",
        "anonymous=303 technical_specialist=303 admin=303 *=403",
        etag_field="group",
    ),
    "GET /catalogue/exclusions": Call("/catalogue/exclusions", SIGNED_IN),
    "POST /catalogue/exclusions/{key}/delete": Call(
        "/catalogue/exclusions/{exclusion}/delete",
        "anonymous=303 technical_specialist/own=303 admin=303 *=403",
        etag_field="exclusion",
    ),
    # On the round's page: a chief of mission's own budget (A has one: a change; B's
    # chief sets a new one), the coordinator's allocation and fairness.
    "POST /rounds/{round_id}/budget": Call(
        "/rounds/{open}/budget",
        "anonymous=303 chief_of_mission/own=412 chief_of_mission/other=303 *=403",
        form={"amount": "5000"},
    ),
    "POST /rounds/{round_id}/settings": Call(
        "/rounds/{open}/settings",
        "anonymous=303 coordinator=303 admin=303 *=403",
        form={"allocation": "proportional", "fairness": "on"},
        etag_field="open",
    ),
    "GET /runs/{run_id}": Call("/runs/{run}", SIGNED_IN),
    "GET /runs/{run_id}/progress": Call("/runs/{run}/progress", SIGNED_IN),
    # The run has finished: the coordinator is told so on its page.
    "POST /runs/{run_id}/cancel": Call("/runs/{run}/cancel", "anonymous=303 coordinator=303 *=403"),
    "GET /runs/{run_id}/plan": Call("/runs/{run}/plan", SIGNED_IN),
    "POST /runs/{run_id}/decision": Call(
        "/runs/{run}/decision",
        "anonymous=303 chief_of_mission/own=303 *=403",
        form={"decision": "approved"},
    ),
    "POST /runs/{run_id}/scenarios": Call(
        "/runs/{run}/scenarios", "anonymous=303 coordinator=303 *=403", form={"name": "what if"}
    ),
    "POST /runs/{run_id}/frontier": Call(
        "/runs/{run}/frontier", "anonymous=303 coordinator=303 *=403"
    ),
    # Once the round is optimised every member sees its runs, and so their scenarios.
    "GET /scenarios/{scenario_id}": Call("/scenarios/{scenario}", SIGNED_IN),
    # The scenario has finished: the coordinator is told so on its page.
    "POST /scenarios/{scenario_id}/cancel": Call(
        "/scenarios/{scenario}/cancel", "anonymous=303 coordinator=303 *=403"
    ),
    "GET /files/templates/{kind}.{fmt}": Call("/files/templates/needs.csv", SIGNED_IN),
    "GET /files/runs/{run_id}/plan.xlsx": Call("/files/runs/{run}/plan.xlsx", SIGNED_IN),
    "GET /files/runs/{run_id}/plan-csv.zip": Call("/files/runs/{run}/plan-csv.zip", SIGNED_IN),
    # The plan's one supplier has the round's first purchase order number.
    "GET /files/runs/{run_id}/orders/{number}.pdf": Call(
        "/files/runs/{run}/orders/PO-{done}-01.pdf", SIGNED_IN
    ),
    "GET /files/runs/{run_id}/plan.hxl.csv": Call("/files/runs/{run}/plan.hxl.csv", SIGNED_IN),
    "GET /files/rounds/{round_id}/needs.hxl.csv": Call(
        "/files/rounds/{open}/needs.hxl.csv", SIGNED_IN
    ),
    "GET /files/rounds/{round_id}/ocds.json": Call(
        "/files/rounds/{done}/ocds.json", "anonymous=303 *=409"
    ),
    # Deliveries: every member reads; the line's own agency's local team records.
    "GET /deliveries": Call("/deliveries", SIGNED_IN),
    "GET /order-lines/{line_id}": Call("/order-lines/{line}", SIGNED_IN),
    "POST /order-lines/{line_id}/receipts": Call(
        "/order-lines/{line}/receipts",
        "anonymous=303 local_team/own=303 *=403",
        form={"location_id": "{location}", "received_on": "{today}", "quantity_received": "1"},
    ),
    "GET /supplier-records": Call("/supplier-records", SIGNED_IN),
    "GET /results": Call("/results", SIGNED_IN),
    # Lead times learned from deliveries: the technical specialists' review, as the API's.
    "GET /rounds/{round_id}/lead-times": Call(
        "/rounds/{open}/lead-times", "anonymous=303 technical_specialist=200 *=403"
    ),
    "POST /rounds/{round_id}/lead-times/propose": Call(
        "/rounds/{open}/lead-times/propose", "anonymous=303 technical_specialist=303 *=403"
    ),
    "GET /lead-time-adjustments/{adjustment_id}/review": Call(
        "/lead-time-adjustments/{adjustment}/review",
        "anonymous=303 technical_specialist=200 *=403",
    ),
    "POST /lead-time-adjustments/{adjustment_id}/review": Call(
        "/lead-time-adjustments/{adjustment}/review",
        "anonymous=303 technical_specialist=303 *=403",
        form={"decision": "confirm", "evidence": "4 late deliveries", "source": "receipts"},
        etag_field="adjustment",
    ),
    # The audit log, as the API's: coordinators and admins only. What changed since one
    # last looked: everyone signed in, each shown only what they may see.
    "GET /audit": Call("/audit", "anonymous=303 coordinator=200 admin=200 *=403"),
    "GET /audit/verify": Call("/audit/verify", "anonymous=303 coordinator=200 admin=200 *=403"),
    "GET /changes": Call("/changes", SIGNED_IN),
}


def served_routes(app: FastAPI) -> set[str]:
    """``"METHOD path"`` of every route the app serves (HEAD is GET's shadow)."""
    found = set()
    for route in iter_route_contexts(app.routes):
        methods = route.methods or {"GET"}
        for method in methods - {"HEAD"}:
            found.add(f"{method} {route.path_format}")
    return found


def test_every_route_is_classified(app: FastAPI) -> None:
    served = served_routes(app) - UNGUARDED
    classified = set(ROUTES) | set(WEB_ROUTES)
    missing = sorted(served - classified)
    gone = sorted(classified - served)
    assert not missing, (
        "routes without an access rule: add each to ROUTES or WEB_ROUTES in "
        f"tests/security/test_access_matrix.py: {missing}"
    )
    assert not gone, f"rules for routes that no longer exist: {gone}"


# ------------------------------------------------------------------------------- running


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if whole := re.fullmatch(r"\{(\w+)\}", value):
            return ids[whole.group(1)]  # as it is: an offer's id stays a number
        return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _leaks(world: World, caller: str, text: str) -> list[str]:
    found = [h for h in world.token_hashes if h in text]
    if caller.endswith("/other") and DRAFT_MARKER in text:
        found.append("agency A's draft")
    return found


def _call_api(client: TestClient, world: World, call: Call, caller: str) -> tuple[int, str]:
    headers = world.headers(caller)
    if call.if_match:
        headers["If-Match"] = world.etag(call.if_match)
    kwargs: dict[str, Any] = {"headers": headers}
    if call.json is not None:
        kwargs["json"] = _fill(call.json, world.ids)
    if call.upload is not None:
        content = _fill(call.upload, world.ids).encode()
        kwargs["files"] = {"file": ("upload.csv", content, "text/csv")}
    method, _ = KEYS[id(call)].split(" ", 1)
    response = client.request(method, API + _fill(call.path, world.ids), **kwargs)
    return response.status_code, response.text


KEYS = {id(call): key for key, call in {**ROUTES, **WEB_ROUTES}.items()}


@pytest.mark.parametrize("key", sorted(ROUTES))
def test_api_route(key: str, session: Session, client: TestClient) -> None:
    world = build_world(session, client)
    call = ROUTES[key]
    wrong = []
    for caller in CALLERS:
        with undone(session):
            status, text = _call_api(client, world, call, caller)
        expected = call.status_for(caller)
        if status != expected:
            wrong.append(f"{caller}: {status}, expected {expected}: {text[:200]}")
        if leaks := _leaks(world, caller, text):
            wrong.append(f"{caller}: the response shows {leaks}")
    assert not wrong, f"{key}\n  " + "\n  ".join(wrong)


def _browser(app: FastAPI, world: World, caller: str) -> tuple[TestClient, str]:
    """A browser signed in as ``caller`` (anonymous: with a session but no token), and
    the CSRF token its forms carry."""
    browser = TestClient(app, follow_redirects=False)
    page = browser.get("/sign-in")
    csrf = CSRF.search(page.text)
    assert csrf, page.text[:300]
    if caller == "anonymous":
        return browser, csrf.group(1)
    signed = browser.post(
        "/sign-in", data={"csrf_token": csrf.group(1), "token": world.tokens[caller], "next": "/"}
    )
    assert signed.status_code == 303, signed.text[:300]
    page = browser.get("/rounds")
    csrf = CSRF.search(page.text)
    assert csrf, page.text[:300]
    return browser, csrf.group(1)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.mark.parametrize("key", sorted(WEB_ROUTES))
def test_web_route(key: str, session: Session, client: TestClient, app: FastAPI) -> None:
    world = build_world(session, client)
    call = WEB_ROUTES[key]
    method, _ = key.split(" ", 1)
    wrong = []
    for caller in CALLERS:
        with undone(session):
            browser, csrf = _browser(app, world, caller)
            url = _fill(call.path, world.ids)
            if method == "GET":
                response = browser.get(url)
            else:
                data = {"csrf_token": csrf, **_fill(call.form, world.ids)}
                if call.etag_field:
                    data["etag"] = world.etag(call.etag_field)
                files = None
                if call.upload is not None:
                    content = _fill(call.upload, world.ids).encode()
                    files = {"file": ("upload.csv", content, "text/csv")}
                response = browser.post(url, data=data, files=files)
        expected = call.status_for(caller)
        if response.status_code != expected:
            wrong.append(f"{caller}: {response.status_code}, expected {expected}")
        if leaks := _leaks(world, caller, response.text):
            wrong.append(f"{caller}: the page shows {leaks}")
    assert not wrong, f"{key}\n  " + "\n  ".join(wrong)
