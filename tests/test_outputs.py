"""A run's outputs add up: purchase orders, cost statements, unmet needs; who sees them."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.needs.models import Need
from app.rounds.models import RoundStatus
from tests.test_runs import World, closed_world

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


def get(
    client: TestClient, auth_headers: Headers, world: World, who: str, url: str, **params: Any
) -> Any:
    response = client.get(url, params=params, headers=auth_headers(world.tokens[who]))
    assert response.status_code == 200, response.text
    return response.json()


def cents(values: list[float]) -> Decimal:
    return sum((Decimal(str(v)) for v in values), Decimal(0))


def test_purchase_orders_add_up_and_trace_back_to_each_need(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    plan = run["plan"]
    page = get(
        client, auth_headers, world, "coordinator", f"/api/v1/runs/{run['id']}/purchase-orders"
    )
    orders = page["items"]
    assert page["total"] == len(orders) == len({o["supplier"] for o in plan["orders"]})

    for order in orders:
        assert Decimal(str(order["goods_cost"])) == cents([line["cost"] for line in order["lines"]])
        assert Decimal(str(order["shipping_cost"])) == cents(
            [d["cost"] for d in order["deliveries"]]
        )
        assert Decimal(str(order["total_cost"])) == cents(
            [order["goods_cost"], order["shipping_cost"]]
        )
        assert order["currency"] == "USD" and order["supplier_name"]
        for line in order["lines"]:
            assert line["quantity"] == sum(a["quantity"] for a in line["awards"])
            assert line["awards"], line
            assert Decimal(str(line["cost"])) == (
                Decimal(str(line["unit_price"])) * line["quantity"]
            ).quantize(Decimal("0.01"))
            for award in line["awards"]:
                need = session.get_one(Need, award["need_id"])
                assert award["need"] == f"n-{need.id}"
                assert (award["agency"], award["location"]) == (need.agency_id, need.location_id)
                assert award["need_by"] == need.need_by.isoformat()
        for delivery in order["deliveries"]:
            assert delivery["location_name"]

    # Every pooled order and every award is in exactly one purchase order.
    assert sorted(line["offer"] for o in orders for line in o["lines"]) == sorted(
        o["offer"] for o in plan["orders"]
    )
    assert sum(a["quantity"] for o in orders for line in o["lines"] for a in line["awards"]) == sum(
        a["quantity"] for a in plan["awards"]
    )
    # The orders together are the plan's money cost.
    assert cents([o["total_cost"] for o in orders]) == Decimal(str(plan["money_cost"]))
    assert cents([o["goods_cost"] for o in orders]) == Decimal(str(plan["purchase_cost"]))

    # The pooled masks reached the 10 000 tier.
    mask_lines = [
        line for o in orders for line in o["lines"] if line["item"] == world.codes["mask"]
    ]
    assert any(line["tier_min_quantity"] == 10_000 for line in mask_lines)

    one = get(
        client,
        auth_headers,
        world,
        "a_team",
        f"/api/v1/runs/{run['id']}/purchase-orders",
        supplier=world.codes["s1"],
    )
    assert [o["supplier"] for o in one["items"]] == [world.codes["s1"]]
    paged = get(
        client, auth_headers, world, "a_team", f"/api/v1/runs/{run['id']}/purchase-orders", limit=1
    )
    assert len(paged["items"]) == 1 and paged["total"] == len(orders)
    assert len(orders) == 2 and paged["next_offset"] == 1


def test_cost_statements_sum_to_the_money_cost_and_every_member_sees_them(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    url = f"/api/v1/runs/{run['id']}/cost-statements"
    # An agency with no needs in the round sees every agency's statement: that is the point.
    statements = get(client, auth_headers, world, "d_chief", url)["items"]
    ids = {world.agencies[k].id for k in "abc"}
    assert {s["agency"] for s in statements} == ids

    assert cents([s["allocated_cost"] for s in statements]) == Decimal(
        str(run["plan"]["money_cost"])
    )
    for s in statements:
        assert Decimal(str(s["savings"])) == Decimal(str(s["standalone_cost"])) - Decimal(
            str(s["allocated_cost"])
        )
        assert s["awarded_units"] + s["unmet_units"] == s["requested_units"]
        assert s["agency_name"] and s["currency"] == "USD"
    # Pooling the masks past the tier saves money overall.
    assert sum(s["savings"] for s in statements) > 0

    b = world.agencies["b"].id
    only_b = get(client, auth_headers, world, "a_team", url, agency_id=b)["items"]
    assert [s["agency"] for s in only_b] == [b]
    assert only_b[0]["requested_units"] == 5010


def test_unmet_needs_carry_their_reason(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    url = f"/api/v1/runs/{run['id']}/unmet"
    unmet = get(client, auth_headers, world, "b_team", url)["items"]
    tank = world.needs["c_tank"]
    line = next(u for u in unmet if u["need_id"] == tank.id)
    assert line["reason"] == "no_route" and line["quantity"] == 20
    assert line["requested_quantity"] == 20 and line["priority"] == "high"
    assert line["agency"] == world.agencies["c"].id and line["detail"].strip()
    assert len(unmet) == len(run["plan"]["unmet"])

    c = world.agencies["c"].id
    assert get(client, auth_headers, world, "b_team", url, reason="capacity")["total"] == 0
    assert get(client, auth_headers, world, "b_team", url, agency_id=c)["total"] >= 1
    assert (
        get(client, auth_headers, world, "b_team", url, agency_id=world.agencies["a"].id)["total"]
        == 0
    )
    bad = client.get(
        url, params={"reason": "bad-luck"}, headers=auth_headers(world.tokens["b_team"])
    )
    assert bad.status_code == 422


def test_before_the_round_is_open_to_members_an_agency_sees_only_its_share(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    # As in the moments a re-run of a closed round is solving: not yet published.
    world.round.status = RoundStatus.closed
    session.flush()
    base = f"/api/v1/runs/{run['id']}"
    c = world.agencies["c"].id

    statements = get(client, auth_headers, world, "c_team", f"{base}/cost-statements")["items"]
    assert [s["agency"] for s in statements] == [c]
    other = get(
        client,
        auth_headers,
        world,
        "c_team",
        f"{base}/cost-statements",
        agency_id=world.agencies["a"].id,
    )
    assert other["items"] == []
    assert {
        u["agency"] for u in get(client, auth_headers, world, "c_team", f"{base}/unmet")["items"]
    } == {c}
    assert get(client, auth_headers, world, "a_team", f"{base}/unmet")["items"] == []
    orders = client.get(f"{base}/purchase-orders", headers=auth_headers(world.tokens["c_team"]))
    assert orders.status_code == 403

    view = get(client, auth_headers, world, "c_team", base)
    assert view["scope"] == "own_agency"
    assert {n["agency"] for n in view["problem"]["needs"]} == {c}
    assert set(view["plan"]) == {"status", "awards", "unmet", "agencies"}
    own_needs = {n["id"] for n in view["problem"]["needs"]}
    assert {a["need"] for a in view["plan"]["awards"]} <= own_needs
    assert view["approval"]["required"] == [c]

    # Coordinators see everything all along; a user of no agency sees nothing.
    assert get(client, auth_headers, world, "coordinator", f"{base}/purchase-orders")["total"] > 0
    hidden = client.get(f"{base}/cost-statements", headers=auth_headers(world.tokens["nobody"]))
    assert hidden.status_code == 404


def test_outputs_pagination_is_capped(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    for tail in ("purchase-orders", "cost-statements", "unmet"):
        response = client.get(
            f"/api/v1/runs/{run['id']}/{tail}",
            params={"limit": 100_000},
            headers=auth_headers(world.tokens["coordinator"]),
        )
        assert response.status_code == 422, tail
