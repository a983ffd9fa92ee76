"""Award rules, a budget and the fairness check in a real browser (issue 12), on a fresh
demo server (``tests/e2e/test_browser.py``'s fixtures, a server of this module's own).

The demo's open round has eight agencies, 254 coalitions to solve for the fairness check:
too slow for a browser test on two cores. So the coordinator opens a small round through
the API (fairness off), three agencies' local teams copy a few of their needs from the
demo round into it, and then, through the pages: a technical specialist adds an award
rule on one of its items, with mistakes first, and fixes them; IOM's chief of mission
sets IOM's budget (a mistake first) at half of what IOM's needs cost at the cheapest
price any offer asks, so that it binds; the coordinator turns fairness on with the least-core
split, closes and runs the round, and the plan page shows the fairness verdict and the
sourcing charts. Desktop and phone-width screenshots go to ``artifacts/screenshots/``.

The tests run in file order and build on each other.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_browser import (  # the fixtures and helpers of the browser tests
    SOLVE_TIMEOUT_MS,
    Server,
    browser,  # noqa: F401  (a fixture)
    on_a_phone,
    server,  # noqa: F401  (a fixture)
    shot,
    signed_in,
)

pytestmark = pytest.mark.e2e

AGENCIES = ("IOM", "UNHCR", "WHO-PAHO")
NEEDS_EACH = 2
STATE: dict[str, Any] = {}


def _small_round(demo: Server) -> dict[str, Any]:
    """A round of three agencies (7 coalitions), its needs copied from the demo round."""
    if "round" in STATE:
        return STATE
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    with demo.api("TOKEN_COORDINATOR") as api:
        created = api.post(
            "/rounds",
            json={
                "name": "Darién small pool, fairness check",
                "deadline": deadline,
                "settings": {"fairness": "none"},
            },
        )
        created.raise_for_status()
    round_ = created.json()
    items: list[str] = []
    for agency in AGENCIES:
        token = f"TOKEN_LOCAL_{agency.replace('-', '_')}"
        with demo.api(token) as api:
            listed = api.get(
                f"/rounds/{demo.round_id}/needs",
                params={"agency_id": agency, "status": "submitted", "limit": 50},
            )
            listed.raise_for_status()
            needs = listed.json()["items"]
            assert len(needs) >= NEEDS_EACH, (agency, listed.json())
            for need in needs[:NEEDS_EACH]:
                fields = ("item_id", "location_id", "quantity", "need_by", "priority")
                body = {k: need[k] for k in fields} | {"submit": True}
                if need.get("justification"):
                    body["justification"] = need["justification"]
                answer = api.post(f"/rounds/{round_['id']}/needs", json=body)
                assert answer.status_code == 201, answer.text
                items.append(need["item_id"])
    STATE.update(round=round_, item=items[0])
    return STATE


def _binding_budget(demo: Server) -> int:
    """Half of what IOM's needs in the small round cost at the lowest unit price of any
    offer of their items (fees, packs and shipping only add to it): a budget the plan
    cannot meet every IOM need within."""
    round_id = _small_round(demo)["round"]["id"]
    floor = 0.0
    with demo.api("TOKEN_CHIEF_IOM") as api:
        needs = api.get(f"/rounds/{round_id}/needs", params={"agency_id": "IOM"}).json()
        assert len(needs["items"]) == NEEDS_EACH, needs
        for need in needs["items"]:
            offers = api.get("/offers", params={"item_id": need["item_id"], "limit": 100})
            prices = [t["unit_price"] for o in offers.json()["items"] for t in o["price_tiers"]]
            assert prices, need
            floor += need["quantity"] * min(prices)
    budget = int(floor / 2)
    assert budget >= 1, floor
    return budget


def _round_url(demo: Server) -> str:
    return f"{demo.base}/rounds/{_small_round(demo)['round']['id']}"


def test_specialist_adds_an_award_rule_after_mistakes(
    browser: Browser,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    item = _small_round(server)["item"]
    with server.api("TOKEN_SPECIALIST") as api:
        before = api.get("/award-rules", params={"item_id": item}).json()["total"]
        supplier = api.get("/suppliers", params={"limit": 1}).json()["items"][0]["id"]

    page = signed_in(browser, server, "TOKEN_SPECIALIST")
    page.get_by_role("link", name="Catalogue").click()
    page.get_by_role("link", name="Award rules").click()
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
    page.get_by_role("link", name="Add an award rule").click()
    expect(page.get_by_role("heading", name="Add an award rule")).to_be_visible()

    # At least two suppliers, but the number is forgotten, a supplier is named (a count
    # kind has none) and the penalty is words: every problem at once, nothing saved.
    page.get_by_label("Kind of rule (required)").select_option("min_suppliers")
    page.get_by_label("Item (required)").select_option(item)
    page.get_by_label("Supplier", exact=True).select_option(supplier)
    page.get_by_label("Penalty (required)").fill("a lot")
    page.get_by_label("Reason (required)").fill("supply risk: at least two suppliers")
    page.get_by_role("button", name="Add rule").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(page.locator("#limit-error")).to_contain_text("needs a number of suppliers")
    expect(page.locator("#supplier_id-error")).to_contain_text("counts suppliers")
    expect(page.locator("#penalty-error")).to_be_visible()
    expect(page.get_by_label("Reason (required)")).to_have_value(
        "supply risk: at least two suppliers"
    )
    shot(page, "50-specialist-rule-with-mistakes")
    with server.api("TOKEN_SPECIALIST") as api:
        assert api.get("/award-rules", params={"item_id": item}).json()["total"] == before

    page.get_by_label("Number of suppliers").fill("2")
    page.get_by_label("Supplier", exact=True).select_option("")
    page.get_by_label("Penalty (required)").fill("500")
    page.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("status")).to_contain_text("added")
    with server.api("TOKEN_SPECIALIST") as api:
        rules = api.get("/award-rules", params={"item_id": item}).json()["items"]
    assert len(rules) == before + 1
    rule = max(rules, key=lambda r: r["id"])
    assert (rule["kind"], rule["limit"], rule["supplier_id"]) == ("min_suppliers", 2, None)
    expect(page.locator(f"#rule-{rule['id']}")).to_contain_text("at least two suppliers")
    shot(page, "51-specialist-rules")
    on_a_phone(browser, server, "TOKEN_SPECIALIST", page.url, "52-specialist-rules-phone")
    STATE["rule"] = rule


def test_chief_of_mission_sets_the_budget_after_a_mistake(
    browser: Browser,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    url = _round_url(server)
    page = signed_in(browser, server, "TOKEN_CHIEF_IOM")
    page.goto(url)
    expect(page.locator("#own-budget")).to_contain_text("None yet")
    page.get_by_label("Budget (USD) (required)").fill("two million")
    page.get_by_label("Note").fill("CERF allocation, PPE and WASH line")
    page.get_by_role("button", name="Set the budget").click()
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#amount-error")).to_be_visible()
    expect(page.get_by_label("Note")).to_have_value("CERF allocation, PPE and WASH line")
    shot(page, "53-chief-budget-mistake")

    budget = _binding_budget(server)
    page.get_by_label("Budget (USD) (required)").fill(str(budget))
    page.get_by_role("button", name="Set the budget").click()
    expect(page.get_by_role("status")).to_contain_text("budget for this round is saved")
    expect(page.locator("#own-budget")).to_contain_text(f"{budget:,}.00")
    expect(page.locator("#budgets tr[data-agency='IOM']")).to_contain_text(f"{budget:,}.00")
    shot(page, "54-chief-budget-set")
    on_a_phone(browser, server, "TOKEN_CHIEF_IOM", url, "55-chief-budget-phone")
    with server.api("TOKEN_CHIEF_IOM") as api:
        budgets = api.get(f"/rounds/{STATE['round']['id']}/budgets").json()["items"]
    assert [(b["agency_id"], b["amount"]) for b in budgets] == [("IOM", float(budget))]
    STATE["budget"] = budget


def _plan(page: Page) -> None:
    expect(page.get_by_role("heading", name="Would any agencies do better alone?")).to_be_visible()
    expect(page.locator("#fairness-verdict")).not_to_be_empty()
    for section in ("fairness-title", "budgets-title", "rules-title"):
        figure = page.locator(f"section[aria-labelledby='{section}'] figure svg")
        expect(figure.first).to_be_visible()


def test_coordinator_turns_fairness_on_runs_and_sees_the_verdict_and_charts(
    browser: Browser,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    url = _round_url(server)
    page = signed_in(browser, server, "TOKEN_COORDINATOR")
    page.goto(url)
    expect(page.locator("#round-fairness")).to_have_text("no")
    page.get_by_label("Allocation rule").select_option("least_core")
    page.get_by_role("checkbox", name=re.compile("Check fairness")).check()
    page.get_by_role("button", name="Save the settings").click()
    expect(page.get_by_role("status")).to_contain_text("fairness checked")
    expect(page.locator("#round-fairness")).to_contain_text("yes")
    expect(page.locator("#round-allocation")).to_contain_text(
        "Least core: no group does better alone"
    )
    shot(page, "56-coordinator-round-settings")
    with server.api("TOKEN_COORDINATOR") as api:
        settings = api.get(f"/rounds/{STATE['round']['id']}").json()["settings"]
    assert settings == {"fairness": "core", "allocation": "least_core"}

    page.get_by_role("link", name="Close the round and run it").click()
    page.get_by_role("button", name=re.compile("^Close")).click()
    expect(page.get_by_role("heading", name="Run #1")).to_be_visible()
    plan_link = page.get_by_role("link", name="See the plan")
    expect(plan_link).to_be_visible(timeout=SOLVE_TIMEOUT_MS)
    plan_link.click()
    _plan(page)
    budget = STATE["budget"]
    iom = page.locator("tr[data-agency='IOM']")
    expect(iom.locator("td[data-field='budget']")).to_contain_text(f"{budget:,}.00")
    # It binds: IOM spends no more than its budget, and a need of IOM's is left unmet for
    # the budget (the contract's reason when the spend is within 1% of it).
    spend = float(iom.locator("td[data-field='direct_spend']").inner_text().replace(",", ""))
    assert spend <= budget, (spend, budget)
    unmet = page.locator("table:has(caption:text('Needs the plan leaves')) tbody tr")
    iom_unmet = unmet.filter(has=page.locator("td[data-label='Agency']", has_text="IOM"))
    expect(iom_unmet.locator("td[data-label='Why'] strong").first).to_have_text("budget")
    expect(page.locator("section[aria-labelledby='rules-title']")).to_contain_text(
        STATE["rule"]["item_id"]
    )
    page.locator("#fairness-title").scroll_into_view_if_needed()
    shot(page, "57-plan-fairness-and-sourcing")

    phone = on_a_phone(
        browser, server, "TOKEN_COORDINATOR", page.url, "58-plan-fairness-and-sourcing-phone"
    )
    _plan(phone)
