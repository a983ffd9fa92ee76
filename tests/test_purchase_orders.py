"""Purchase orders: numbered per round and supplier, one PDF per supplier whose text is
read back (pypdf) and checked against the plan's own figures."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from app.runs import outputs
from tests.test_web import Group, _wait_for_plan, build_group, close_through_the_page

pytestmark = pytest.mark.integration


@pytest.fixture
def group(session) -> Group:  # type: ignore[no-untyped-def]
    return build_group(session)


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


@pytest.mark.unit
def test_numbers_follow_the_suppliers_place_in_the_frozen_problem() -> None:
    problem = {"suppliers": [{"id": "sup-b"}, {"id": "sup-a"}, {"id": "sup-c"}]}
    assert outputs.order_number(problem, 7, "sup-a") == "PO-7-01"
    assert outputs.order_number(problem, 7, "sup-c") == "PO-7-03"
    with pytest.raises(ValueError, match="not in the problem"):
        outputs.order_number(problem, 7, "sup-z")


def test_each_suppliers_order_is_a_pdf_with_its_lines_places_and_dates(
    client: TestClient, group: Group
) -> None:
    run_id = close_through_the_page(client, group)
    run = _wait_for_plan(client, group, run_id)
    assert run["status"] == "succeeded"
    orders = client.get(
        f"/api/v1/runs/{run_id}/purchase-orders", headers=group.headers("coordinator")
    ).json()["items"]
    assert orders
    numbers = [o["number"] for o in orders]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(rf"PO-{group.round.id}-\d\d", n) for n in numbers)
    plan_page = client.get(f"/runs/{run_id}/plan").text
    locations = {loc.id: loc.name for loc in group.locations.values()}
    for order in orders:
        url = f"/files/runs/{run_id}/orders/{order['number']}.pdf"
        assert f'href="{url}"' in plan_page
        answer = client.get(url)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.content.startswith(b"%PDF-")
        text = _text(answer.content)
        assert f"Purchase order {order['number']}" in text
        assert order["supplier_name"] in text and order["supplier"] in text
        assert group.round.name in text and "NOT YET BINDING" in text
        for line in order["lines"]:
            assert line["item_name"] in text
            assert f"{line['quantity']:,}" in text
            assert f"{line['cost']:,.2f}" in text
            for award in line["awards"]:
                assert locations[award["location"]] in text
                assert award["delivery_date"] in text
                assert f"need #{award['need_id']}" in text
        assert f"{order['total_cost']:,.2f} {order['currency']}" in text
    # A rerun of the same frozen round gives every supplier the same number.
    rerun = client.post(
        f"/api/v1/rounds/{group.round.id}/runs", headers=group.headers("coordinator")
    )
    assert rerun.status_code in (201, 202), rerun.text
    again = _wait_for_plan(client, group, rerun.json()["id"])
    assert again["status"] == "succeeded"
    renumbered = client.get(
        f"/api/v1/runs/{again['id']}/purchase-orders", headers=group.headers("coordinator")
    ).json()["items"]
    assert {o["supplier"]: o["number"] for o in renumbered} == {
        o["supplier"]: o["number"] for o in orders
    }


def test_an_order_the_plan_does_not_have_is_a_404_page(client: TestClient, group: Group) -> None:
    run_id = close_through_the_page(client, group)
    assert _wait_for_plan(client, group, run_id)["status"] == "succeeded"
    missing = client.get(f"/files/runs/{run_id}/orders/PO-{group.round.id}-99.pdf")
    assert missing.status_code == 404
    assert "no purchase order" in missing.text
    assert client.get(f"/files/runs/{run_id}/orders/nonsense.pdf").status_code in (400, 404, 422)
