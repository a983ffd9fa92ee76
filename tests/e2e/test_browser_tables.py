"""Sortable tables, the audit log and "what changed since you last looked" in a real
browser, at desktop and phone width, against ``poolbuy serve --demo`` (the server, the
browser and the helpers are ``tests/e2e/test_browser.py``'s; this module starts its own
server). Screenshots go to ``artifacts/screenshots/`` as there.
"""

from __future__ import annotations

import re

import pytest

# ``server`` and ``browser`` are test_browser's fixtures (module scoped: this module starts
# its own server); the tests name them as parameters, hence F811.
from tests.e2e.test_browser import (  # noqa: F401
    PHONE,
    Browser,
    Server,
    browser,
    expect,
    on_a_phone,
    server,
    shot,
    signed_in,
)

pytestmark = pytest.mark.e2e


def _column(page: object, index: int) -> list[str]:
    cells = page.locator(f"table tbody tr td:nth-child({index})")  # type: ignore[attr-defined]
    return [c.strip() for c in cells.all_inner_texts()]


def test_a_specialist_sorts_the_offers_by_lead_time_both_ways(
    browser: Browser,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    page = signed_in(browser, server, "TOKEN_SPECIALIST")
    page.goto(f"{server.base}/catalogue/offers")
    heading = page.get_by_role("columnheader", name=re.compile("Lead days"))
    expect(heading).not_to_have_attribute("aria-sort", re.compile("."))
    heading.get_by_role("link").click()
    expect(heading).to_have_attribute("aria-sort", "ascending")
    days = [int(d) for d in _column(page, 8)]
    assert days == sorted(days) and len(days) > 1, days
    shot(page, "40-offers-sorted-by-lead-time")

    heading.get_by_role("link").click()
    expect(heading).to_have_attribute("aria-sort", "descending")
    days = [int(d) for d in _column(page, 8)]
    assert days == sorted(days, reverse=True), days
    assert "sort=lead_days" in page.url and "dir=desc" in page.url

    # On a phone: the same links, the table scrolls inside its frame, not the page.
    on_a_phone(browser, server, "TOKEN_SPECIALIST", page.url, "41-offers-sorted-phone")


def test_the_coordinator_reads_the_audit_log_and_the_changes(
    browser: Browser,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    # Something for the coordinator to be told about: a local team's new need.
    with server.api("TOKEN_LOCAL_IOM") as api:
        items = api.get("/items", params={"limit": 1, "active": "true"}).json()["items"]
        location = api.get("/locations", params={"limit": 1}).json()["items"][0]
        created = api.post(
            f"/rounds/{server.round_id}/needs",
            json={
                "item_id": items[0]["id"],
                "location_id": location["id"],
                "quantity": 4321,
                "need_by": "2099-06-30",
                "priority": "normal",
            },
        )
        assert created.status_code == 201, created.text
        need_id = created.json()["id"]

    page = signed_in(browser, server, "TOKEN_COORDINATOR")
    badge = page.locator("#nav-changes .count-badge")
    expect(badge).to_be_visible()
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.get_by_role("link", name="Check the hash chain now").click()
    expect(page.get_by_role("heading", name="Hash chain: intact")).to_be_visible()
    shot(page, "42a-audit-chain-intact")
    page.get_by_role("link", name="Back to the audit log").click()
    page.get_by_label("About").select_option("need")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("link", name=f"need {need_id}", exact=True)).to_be_visible()
    shot(page, "42-audit-log-needs")
    phone = on_a_phone(browser, server, "TOKEN_COORDINATOR", page.url, "43-audit-log-phone")
    # A phone shows the log as cards, without headings: its sort links are above them.
    menu = phone.get_by_role("navigation", name="Sort the entries")
    menu.get_by_role("link", name="Who").click()
    expect(menu.get_by_role("link", name="Who ▲")).to_have_attribute("aria-current", "true")
    assert "sort=actor" in phone.url and "entity_type=need" in phone.url
    who = phone.locator('td[data-label="Who"]').all_inner_texts()
    assert who == sorted(who) and len(who) > 1, who
    shot(phone, "43b-audit-log-sorted-phone")

    page.get_by_role("link", name=re.compile("^Changes")).click()
    expect(page.get_by_role("heading", name="What changed since you last looked")).to_be_visible()
    row = page.locator("tr", has=page.get_by_role("link", name=f"need {need_id}", exact=True))
    expect(row).to_contain_text("quantity 4321")
    shot(page, "44-changes")
    expect(page.locator("#nav-changes .count-badge")).to_have_count(0)

    page.reload()
    expect(page.locator("#nothing-new")).to_be_visible()
    phone = signed_in(browser, server, "TOKEN_COORDINATOR", **PHONE)
    phone.goto(f"{server.base}/changes")
    expect(phone.locator("#nothing-new")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, width
    shot(phone, "45-changes-seen-phone")
