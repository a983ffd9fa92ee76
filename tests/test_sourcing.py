"""Contract-v2 sourcing through the service: offers' packs and fees, capacity groups,
award rules, supplier exclusions, budgets, and the round's snapshot that carries them.

Uses the pooling group of ``tests.test_runs`` (three agencies with needs for masks
and tanks, a fourth without) and adds a technical specialist of agencies a and b.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.catalogue.models import Offer
from app.runs.models import Run
from app.sourcing.models import AgencyBudget, AwardRule, CapacityGroup, SupplierExclusion
from solver import solve
from tests.factories import make_offer, make_supplier, make_user_and_token
from tests.test_runs import World, audit_actions, build_world, close, comparable
from tests.test_web import sign_in, text_of

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def world(session: Session) -> World:
    world = build_world(session)
    for name in ("a", "b"):
        user, token = make_user_and_token(
            session, Role.technical_specialist, agency=world.agencies[name]
        )
        world.users[f"{name}_specialist"], world.tokens[f"{name}_specialist"] = user, token
    session.commit()
    return world


def _as(world: World, who: str, auth_headers: Headers, **more: str) -> dict[str, str]:
    return {**auth_headers(world.tokens[who]), **more}


def _problems(response: Any) -> set[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return {(e["path"], e["reason"]) for e in response.json()["errors"]}


def _paths(response: Any) -> set[str]:
    return {path for path, _ in _problems(response)}


# ------------------------------------------------------------------------- offers


def test_an_offer_keeps_its_pack_size_and_fee_rate(
    client: TestClient, world: World, auth_headers: Headers
) -> None:
    body = {
        "supplier_id": world.codes["s1"],
        "item_id": world.codes["spare"],
        "capacity": 1000,
        "lead_time_days": 5,
        "valid_from": "2026-01-01",
        "price_tiers": [{"min_quantity": 0, "unit_price": "2.00"}],
        "pack_size": 50,
        "fee_rate": "0.045",
    }
    headers = _as(world, "a_specialist", auth_headers)
    created = client.post("/api/v1/offers", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert (created.json()["pack_size"], created.json()["fee_rate"]) == (50, 0.045)

    # A pack of 0 units and a fee of "4.5" meant as 4.5%: both told, nothing changed.
    patch = client.patch(
        f"/api/v1/offers/{created.json()['id']}",
        json={"pack_size": 0, "fee_rate": 4.5},
        headers={**headers, "If-Match": created.headers["ETag"]},
    )
    assert _paths(patch) == {"$.pack_size", "$.fee_rate"}
    read = client.get(f"/api/v1/offers/{created.json()['id']}", headers=headers).json()
    assert (read["pack_size"], read["fee_rate"]) == (50, 0.045)


# --------------------------------------------------------------------- award rules


def test_a_rule_with_mistakes_lists_every_one_and_the_fixed_rule_is_stored_and_audited(
    session: Session, client: TestClient, world: World, auth_headers: Headers
) -> None:
    headers = _as(world, "a_specialist", auth_headers)
    wrong = {
        "kind": "min_suppliers",
        "item_id": "no-such-item",
        "supplier_id": world.codes["s1"],
        "penalty": 0,
        "reason": "  ",
    }
    response = client.post("/api/v1/award-rules", json=wrong, headers=headers)
    assert _paths(response) == {
        "$.item_id",  # no such item
        "$.supplier_id",  # a count kind has none
        "$.limit",  # and needs one
        "$.penalty",  # > 0
        "$.reason",  # says something
    }
    assert session.query(AwardRule).count() == 0

    fixed = {
        "kind": "min_suppliers",
        "item_id": world.codes["mask"],
        "location_id": world.codes["lajas"],
        "limit": 2,
        "penalty": 2000,
        "reason": "supply risk: at least two suppliers for masks",
    }
    created = client.post(
        "/api/v1/award-rules", json=fixed, headers={**headers, "Idempotency-Key": "rule-1"}
    )
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["limit"] == 2 and rule["supplier_id"] is None and rule["share"] is None
    again = client.post(
        "/api/v1/award-rules", json=fixed, headers={**headers, "Idempotency-Key": "rule-1"}
    )
    assert again.json()["id"] == rule["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert session.query(AwardRule).count() == 1

    url = f"/api/v1/award-rules/{rule['id']}"
    assert client.patch(url, json={"limit": 3}, headers=headers).status_code == 428
    stale = client.patch(url, json={"limit": 3}, headers={**headers, "If-Match": '"old"'})
    assert stale.status_code == 412
    # Turning it into a share rule is another rule; a share on a count kind is refused.
    mixed = client.patch(
        url, json={"share": 0.5}, headers={**headers, "If-Match": created.headers["ETag"]}
    )
    assert _paths(mixed) == {"$.share"}
    changed = client.patch(
        url, json={"limit": 3}, headers={**headers, "If-Match": created.headers["ETag"]}
    )
    assert changed.status_code == 200 and changed.json()["limit"] == 3
    assert audit_actions(session, "award_rule", rule["id"]) == [
        "award_rule.create",
        "award_rule.update",
    ]


def test_a_share_rule_needs_its_supplier_and_share(
    client: TestClient, world: World, auth_headers: Headers
) -> None:
    headers = _as(world, "a_specialist", auth_headers)
    body = {
        "kind": "max_share",
        "item_id": world.codes["mask"],
        "limit": 1,
        "share": 1.5,
        "penalty": 4,
        "reason": "no supplier above 60%",
    }
    problems = _problems(client.post("/api/v1/award-rules", json=body, headers=headers))
    assert {p for p, _ in problems} == {"$.limit", "$.share", "$.supplier_id"}
    body |= {"limit": None, "share": 0.6, "supplier_id": world.codes["s1"]}
    created = client.post("/api/v1/award-rules", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["share"] == 0.6


# ----------------------------------------------------------------- capacity groups


def test_a_capacity_group_takes_only_its_suppliers_offers_once(
    session: Session, client: TestClient, world: World, auth_headers: Headers
) -> None:
    headers = _as(world, "b_specialist", auth_headers)
    s1 = world.codes["s1"]
    # The current offer of each supplier (s2's expired one aside).
    offers = {o.supplier_id: o for o in session.query(Offer).filter(Offer.valid_to.is_(None))}
    extra = make_offer(session, supplier=offers[s1].supplier, item=offers[s1].item)
    session.commit()
    other_suppliers = offers[world.codes["s4"]].id
    body = {
        "supplier_id": s1,
        "name": "Colón plant",
        "capacity": 8000,
        "offer_ids": [offers[s1].id, offers[s1].id, other_suppliers, 999_999],
    }
    assert _problems(client.post("/api/v1/capacity-groups", json=body, headers=headers)) == {
        ("$.offer_ids[1]", f"offer {offers[s1].id} listed twice"),
        (
            "$.offer_ids[2]",
            f"offer {other_suppliers} is {world.codes['s4']}'s, not {s1}'s: a group shares "
            "one supplier's capacity",
        ),
        ("$.offer_ids[3]", "no offer 999999"),
    }
    body["offer_ids"] = [offers[s1].id, extra.id]
    created = client.post("/api/v1/capacity-groups", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["offer_ids"] == sorted([offers[s1].id, extra.id])

    # s3's offer is agency a's long-term agreement: b's specialist may not group it.
    s3_offer = offers[world.codes["s3"]].id
    lta = client.post(
        "/api/v1/capacity-groups",
        json={
            "supplier_id": world.codes["s3"],
            "name": "s3",
            "capacity": 1,
            "offer_ids": [s3_offer],
        },
        headers=headers,
    )
    assert lta.status_code == 403, lta.text
    assert session.query(CapacityGroup).count() == 1


# ---------------------------------------------------------------- supplier exclusions


def test_an_agency_excludes_a_supplier_through_its_own_specialists_citing_evidence(
    session: Session, client: TestClient, world: World, auth_headers: Headers
) -> None:
    a = world.agencies["a"].id
    body = {
        "agency_id": a,
        "supplier_id": world.codes["s1"],
        "evidence": "failed the 2026 integrity due diligence",
        "source": "minute 2026/41",
    }
    # b's specialist cannot speak for a's vetting.
    refused = client.post(
        "/api/v1/supplier-exclusions", json=body, headers=_as(world, "b_specialist", auth_headers)
    )
    assert refused.status_code == 403
    missing = client.post(
        "/api/v1/supplier-exclusions",
        json={**body, "supplier_id": "nobody", "evidence": ""},
        headers=_as(world, "a_specialist", auth_headers),
    )
    assert _paths(missing) == {"$.supplier_id", "$.evidence"}
    headers = _as(world, "a_specialist", auth_headers)
    created = client.post("/api/v1/supplier-exclusions", json=body, headers=headers)
    assert created.status_code == 201, created.text
    twice = client.post("/api/v1/supplier-exclusions", json=body, headers=headers)
    assert twice.status_code == 409
    listed = client.get(f"/api/v1/supplier-exclusions?agency_id={a}", headers=headers).json()
    assert [e["evidence"] for e in listed["items"]] == [body["evidence"]]

    url = f"/api/v1/supplier-exclusions/{created.json()['id']}"
    lifted = client.delete(url, headers={**headers, "If-Match": created.headers["ETag"]})
    assert lifted.status_code == 204
    assert session.query(SupplierExclusion).count() == 0
    assert audit_actions(session, "supplier_exclusion", created.json()["id"]) == [
        "supplier_exclusion.create",
        "supplier_exclusion.delete",
    ]


# ------------------------------------------------------------------------- budgets


def test_a_chief_sets_their_own_agencys_budget_while_the_round_is_open(
    session: Session, client: TestClient, world: World, auth_headers: Headers
) -> None:
    url = world.url("/budgets")
    chief = _as(world, "a_chief", auth_headers)
    created = client.post(url, json={"amount": 5000, "note": "CERF PPE line"}, headers=chief)
    assert created.status_code == 201, created.text
    assert created.json()["agency_id"] == world.agencies["a"].id
    assert client.post(url, json={"amount": 1}, headers=chief).status_code == 409
    # Another agency's chief, a coordinator, a local team: not theirs to set.
    budget_url = f"/api/v1/budgets/{created.json()['id']}"
    etag = created.headers["ETag"]
    for who in ("b_chief", "coordinator", "a_team"):
        response = client.patch(
            budget_url,
            json={"amount": 1},
            headers=_as(world, who, auth_headers, **{"If-Match": etag}),
        )
        assert response.status_code == 403, who
    assert _paths(
        client.post(url, json={"amount": -1}, headers=_as(world, "b_chief", auth_headers))
    ) == {"$.amount"}
    changed = client.patch(
        budget_url, json={"amount": "4200.50"}, headers={**chief, "If-Match": etag}
    )
    assert changed.status_code == 200 and changed.json()["amount"] == 4200.5

    assert close(client, world, auth_headers).status_code == 201
    frozen = client.patch(
        budget_url, json={"amount": 1}, headers={**chief, "If-Match": changed.headers["ETag"]}
    )
    assert frozen.status_code == 409
    assert session.get_one(AgencyBudget, created.json()["id"]).amount == 4200.5


# ------------------------------------------------------------------------ snapshot


def test_the_snapshot_carries_the_sourcing_and_the_stored_plan_equals_a_solve_of_it(
    session: Session, client: TestClient, world: World, auth_headers: Headers
) -> None:
    a, b, c = (world.agencies[k].id for k in "abc")
    specialist = _as(world, "a_specialist", auth_headers)
    offers = {o.supplier_id: o for o in session.query(Offer).filter(Offer.valid_to.is_(None))}
    s1_offer = offers[world.codes["s1"]]
    s1_offer.pack_size, s1_offer.fee_rate = 100, 0.03
    session.commit()
    rules = [
        {
            "kind": "max_suppliers",
            "item_id": world.codes["mask"],
            "limit": 1,
            "penalty": 50,
            "reason": "one contract to manage",
        },
        {
            "kind": "min_share",
            "item_id": world.codes["mask"],
            "supplier_id": world.codes["s2"],
            "share": 0.1,
            "penalty": 0.5,
            "reason": "keep the incumbent",
        },
        # Nobody needs the spare item: nothing in scope, so not in the document.
        {
            "kind": "min_suppliers",
            "item_id": world.codes["spare"],
            "limit": 2,
            "penalty": 9,
            "reason": "supply risk",
        },
    ]
    rule_ids = []
    for rule in rules:
        response = client.post("/api/v1/award-rules", json=rule, headers=specialist)
        assert response.status_code == 201, response.text
        rule_ids.append(response.json()["id"])
    group = client.post(
        "/api/v1/capacity-groups",
        json={
            "supplier_id": world.codes["s1"],
            "name": "Plant",
            "capacity": 9000,
            "offer_ids": [s1_offer.id],
        },
        headers=specialist,
    ).json()
    # A supplier with no offer in the round: its exclusion changes nothing, is left out.
    idle = make_supplier(session)
    session.commit()
    for supplier in (world.codes["s3"], idle.id):
        excluded = client.post(
            "/api/v1/supplier-exclusions",
            json={
                "agency_id": a,
                "supplier_id": supplier,
                "evidence": "vetting",
                "source": "minute",
            },
            headers=specialist,
        )
        assert excluded.status_code == 201, excluded.text
    budget = client.post(
        world.url("/budgets"), json={"amount": 3000}, headers=_as(world, "b_chief", auth_headers)
    )
    assert budget.status_code == 201

    closed = close(client, world, auth_headers)
    assert closed.status_code == 201, closed.text
    run = session.get_one(Run, closed.json()["id"], populate_existing=True)
    document = run.problem
    agencies = {ag["id"]: ag for ag in document["agencies"]}
    assert agencies[a]["excluded_suppliers"] == [world.codes["s3"]]
    assert agencies[b]["excluded_suppliers"] == []
    assert (agencies[a]["budget"], agencies[b]["budget"], agencies[c]["budget"]) == (
        None,
        3000.0,
        None,
    )
    offer_line = next(o for o in document["offers"] if o["id"] == f"o-{s1_offer.id}")
    assert (offer_line["pack_size"], offer_line["fee_rate"]) == (100, 0.03)
    assert document["capacity_groups"] == [
        {"id": f"g-{group['id']}", "offers": [f"o-{s1_offer.id}"], "capacity": 9000}
    ]
    assert [r["id"] for r in document["rules"]] == [f"r-{i}" for i in rule_ids[:2]]
    # s2's only mask offer has expired, yet its min_share rule names it: it is listed.
    assert world.codes["s2"] in {s["id"] for s in document["suppliers"]}
    # The round said nothing: the pooling round checks fairness by default.
    assert (document["settings"]["allocation"], document["settings"]["fairness"]) == (
        "usage",
        "core",
    )
    assert run.plan is not None
    assert comparable(solve(document)) == comparable(run.plan)
    # Three agencies with needs: six coalitions checked; the rules are reported.
    assert run.plan["fairness"]["coalitions"] == 6
    assert [r["rule"] for r in run.plan["rules"]] == [f"r-{i}" for i in rule_ids[:2]]


# ------------------------------------------------------------- allocation, fairness


def test_a_coordinator_chooses_the_allocation_and_fairness_which_is_on_by_default(
    session: Session, client: TestClient, world: World, auth_headers: Headers
) -> None:
    coordinator = _as(world, "coordinator", auth_headers)
    etag = client.get(world.url(), headers=coordinator).headers["ETag"]
    wrong = client.patch(
        world.url(),
        json={"settings": {"allocation": "fair-ish", "fairness": "maybe"}},
        headers={**coordinator, "If-Match": etag},
    )
    assert _paths(wrong) == {"$.settings.allocation", "$.settings.fairness"}
    # A chief of mission does not choose how the group splits its cost.
    chief = client.patch(
        world.url(),
        json={"settings": {"allocation": "least_core"}},
        headers=_as(world, "a_chief", auth_headers, **{"If-Match": etag}),
    )
    assert chief.status_code == 403

    round_ = client.post(
        "/api/v1/rounds",
        json={"name": "Silent", "deadline": "2099-01-01T12:00:00Z"},
        headers=coordinator,
    ).json()
    assert "fairness" not in round_["settings"]  # stored: only what was chosen

    chosen = client.patch(
        world.url(),
        json={"settings": {"allocation": "least_core", "fairness": "none"}},
        headers={**coordinator, "If-Match": etag},
    )
    assert chosen.status_code == 200, chosen.text
    closed = close(client, world, auth_headers)
    assert closed.status_code == 201, closed.text
    settings = session.get_one(Run, closed.json()["id"]).problem["settings"]
    assert (settings["allocation"], settings["fairness"]) == ("least_core", "none")


# ------------------------------------------------------------------------- import


def test_a_rules_sheet_with_bad_rows_lists_every_one_and_writes_nothing_then_imports(
    session: Session, client: TestClient, world: World, auth_headers: Headers
) -> None:
    headers = _as(world, "a_specialist", auth_headers)
    mask, s1 = world.codes["mask"], world.codes["s1"]
    bad = (
        "kind,item,location,supplier,limit,share,penalty,reason\n"
        f"min_suppliers,{mask},,,2,,2000,supply risk\n"
        f"most_suppliers,{mask},,,2,,2000,typo in the kind\n"
        f"max_share,{mask},,,,1.5,4,no supplier and a share above 1\n"
        f"min_suppliers,{mask},,{s1},,,5,a supplier on a count kind and no limit\n"
    )
    response = client.post(
        "/api/v1/award-rules/import",
        files={"file": ("rules.csv", bad.encode(), "text/csv")},
        headers=headers,
    )
    assert _paths(response) == {
        "row 3, kind",
        "row 4, share",
        "row 4, supplier",
        "row 5, supplier",
        "row 5, limit",
    }
    assert session.query(AwardRule).count() == 0

    good = (
        bad.splitlines()[0]
        + "\n"
        + bad.splitlines()[1]
        + "\n"
        + (f"max_share,{mask},,{s1},,0.6,4,no supplier above 60%\n")
    )
    imported = client.post(
        "/api/v1/award-rules/import",
        files={"file": ("rules.csv", good.encode(), "text/csv")},
        headers=headers,
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["created"] == 2
    stored = {r.kind.value: r for r in session.query(AwardRule)}
    assert stored["max_share"].supplier_id == s1 and float(stored["max_share"].share or 0) == 0.6
    assert audit_actions(session, "award_rule", stored["min_suppliers"].id) == ["award_rule.create"]
    template = client.get("/api/v1/templates/rules?format=csv", headers=headers)
    assert template.status_code == 200
    assert template.text.lstrip("\ufeff").startswith(
        "kind,item,location,supplier,limit,share,penalty,reason"
    )


# --------------------------------------------------------------------- plan page


def test_a_budget_that_binds_and_the_fairness_verdict_show_on_the_plan_page(
    session: Session, client: TestClient, world: World, auth_headers: Headers
) -> None:
    b = world.agencies["b"].id
    # b's 5,000 masks cost about USD 6,000: a USD 3,000 budget binds.
    budget = client.post(
        world.url("/budgets"), json={"amount": 3000}, headers=_as(world, "b_chief", auth_headers)
    )
    assert budget.status_code == 201
    rule = client.post(
        "/api/v1/award-rules",
        json={
            "kind": "max_suppliers",
            "item_id": world.codes["mask"],
            "limit": 1,
            "penalty": 10,
            "reason": "one contract to manage",
        },
        headers=_as(world, "a_specialist", auth_headers),
    )
    assert rule.status_code == 201
    closed = close(client, world, auth_headers)
    assert closed.status_code == 201, closed.text
    run = session.get_one(Run, closed.json()["id"], populate_existing=True)
    assert run.plan is not None
    b_line = next(a for a in run.plan["agencies"] if a["agency"] == b)
    assert b_line["budget"] == 3000.0 and b_line["direct_spend"] <= 3000.0
    assert {
        u["reason"] for u in run.plan["unmet"] if u["need"] == f"n-{world.needs['b_mask'].id}"
    } == {"budget"}

    page = sign_in(client, world.tokens["coordinator"]).get(f"/runs/{run.id}/plan")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    fairness = run.plan["fairness"]
    assert ("Stable:" if fairness["stable"] else "Not stable:") in text
    assert f"{fairness['coalitions']} coalitions checked" in text
    table = page.text[page.text.index('id="agency-v2"') :]
    budget_cell = re.search(rf'<tr data-agency="{b}">.*?data-field="budget">([^<]*)<', table, re.S)
    assert budget_cell is not None and budget_cell.group(1) == "3,000.00"
    assert 'data-rule="r-' in page.text
    # Charts: budget use, share beside stand-alone, rules kept/broken.
    for title in ("Direct spend as a share", "objective share in the pool", "kept and broke"):
        assert title in page.text, title


# ---------------------------------------------------------------------- scenarios


def test_scenarios_show_what_a_budget_and_a_rule_cost_the_group(
    session: Session, client: TestClient, world: World, auth_headers: Headers
) -> None:
    b = world.agencies["b"].id
    client.post(
        world.url("/budgets"), json={"amount": 3000}, headers=_as(world, "b_chief", auth_headers)
    )
    rule = client.post(
        "/api/v1/award-rules",
        json={
            "kind": "min_suppliers",
            "item_id": world.codes["mask"],
            "limit": 2,
            "penalty": 50,
            "reason": "supply risk",
        },
        headers=_as(world, "a_specialist", auth_headers),
    ).json()
    closed = close(client, world, auth_headers)
    assert closed.status_code == 201, closed.text
    run = session.get_one(Run, closed.json()["id"], populate_existing=True)
    assert run.plan is not None
    coordinator = _as(world, "coordinator", auth_headers)
    url = f"/api/v1/runs/{run.id}/scenarios"

    wrong = client.post(
        url,
        json={
            "name": "typos",
            "sourcing": {"drop_rule": "r-999", "budget": {"agency": "ZZZ", "amount": 1}},
        },
        headers=coordinator,
    )
    assert _paths(wrong) == {
        "$.sourcing.drop_rule",
        "$.sourcing.budget.agency",
    }

    def scenario(body: dict[str, Any]) -> dict[str, Any]:
        created = client.post(url, json=body, headers=coordinator)
        assert created.status_code == 201, created.text
        read = client.get(f"/api/v1/scenarios/{created.json()['id']}", headers=coordinator)
        assert read.json()["state"] == "succeeded", read.text
        result: dict[str, Any] = read.json()
        return result

    no_cap = scenario(
        {"name": "b without a cap", "sourcing": {"budget": {"agency": b, "amount": None}}}
    )
    # Lifting the cap serves b's masks: the group's objective falls, nothing unmet for budget.
    assert no_cap["objective"] < run.plan["objective"]
    assert "budget" not in {u["reason"] for u in no_cap["plan"]["unmet"]}
    assert next(a for a in no_cap["plan"]["agencies"] if a["agency"] == b)["budget"] is None
    without_rule = scenario(
        {"name": "one supplier is fine", "sourcing": {"drop_rule": f"r-{rule['id']}"}}
    )
    assert without_rule["plan"]["rules"] == []
    assert without_rule["objective"] <= run.plan["objective"] + 1e-6
    # The run's own frozen document is unchanged.
    assert session.get_one(Run, run.id, populate_existing=True).problem == run.problem
