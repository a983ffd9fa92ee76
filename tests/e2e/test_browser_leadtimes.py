"""The lead-time review in a real browser, on the demo's open round (its two past rounds'
deliveries gave the rule its proposals): a technical specialist opens the review from the
round page, confirms one proposal, overrides another with a mistake first (no reason),
fixes it, and the page says what was decided. Desktop and phone-width screenshots go to
``artifacts/screenshots/`` as in ``tests/e2e/test_browser.py``, whose server, browser and
sign-in this module shares (a server of its own: a fresh demo)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.test_browser import (  # the fixtures and helpers of the browser tests
    Server,
    browser,  # noqa: F401  (a fixture)
    on_a_phone,
    server,  # noqa: F401  (a fixture)
    shot,
    signed_in,
)

pytestmark = pytest.mark.e2e


def _proposals(demo: Server) -> list[dict]:
    with demo.api("TOKEN_SPECIALIST") as api:
        listed = api.get(
            f"/rounds/{demo.round_id}/lead-time-adjustments", params={"status": "proposed"}
        )
        listed.raise_for_status()
        return list(listed.json()["items"])


def test_specialist_confirms_one_lead_time_and_overrides_another_after_a_mistake(
    browser: Browser,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    proposals = _proposals(server)
    assert len(proposals) >= 2, "the demo's open round has lead-time proposals to review"
    first, second = proposals[0], proposals[1]

    page = signed_in(browser, server, "TOKEN_SPECIALIST")
    page.goto(f"{server.base}/rounds/{server.round_id}")
    page.get_by_role("link", name="Review lead times").click()
    expect(page.get_by_role("heading", name="Lead times from realised deliveries")).to_be_visible()
    expect(page.locator("#left-to-review")).to_contain_text(f"{len(proposals)} adjustment")
    shot(page, "30-specialist-lead-times")

    # Confirm the first: the evidence is on the page, the rule's figure is taken.
    page.locator(f"#adjustment-{first['id']}").get_by_role("link").click()
    expect(page.locator("#promised")).to_contain_text(str(first["promised_days"]))
    expect(page.locator("#deliveries")).to_have_text(str(len(first["sample"])))
    expect(page.locator("#proposed")).to_contain_text(str(first["proposed_days"]))
    shot(page, "31-specialist-lead-time-evidence")
    page.get_by_label(f"Confirm the rule's {first['proposed_days']}").check()
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("status")).to_contain_text("confirmed")
    expect(page.locator(f"#adjustment-{first['id']}")).to_have_attribute("data-status", "confirmed")

    # Override the second, forgetting the reason: nothing is saved, the problem is by the
    # field and in the summary, and what was typed is still there.
    days = str(int(second["proposed_days"]) + 2)
    page.locator(f"#adjustment-{second['id']}").get_by_role("link").click()
    page.get_by_label("Override with another lead time").check()
    page.get_by_label("Lead time to use (days)").fill(days)
    page.get_by_role("button", name="Record the decision").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name="Reason: is required to override")).to_be_visible()
    expect(page.locator("#evidence-error")).to_contain_text("is required to override")
    expect(page.get_by_label("Lead time to use (days)")).to_have_value(days)
    expect(page.get_by_label("Override with another lead time")).to_be_checked()
    shot(page, "32-specialist-lead-time-override-mistake")

    page.get_by_label("Reason").fill(
        "The supplier's new depot in Colón ships two days later than the rule says"
    )
    page.get_by_label("Source").fill("Supplier's letter of 12 November")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("status")).to_contain_text("overridden")
    row = page.locator(f"#adjustment-{second['id']}")
    expect(row).to_have_attribute("data-status", "overridden")
    expect(row.locator("td[data-label='Used']")).to_have_text(days)
    shot(page, "33-specialist-lead-times-decided")

    with server.api("TOKEN_SPECIALIST") as api:
        decided = {
            a["id"]: a
            for a in api.get(f"/rounds/{server.round_id}/lead-time-adjustments").json()["items"]
        }
    assert decided[first["id"]]["status"] == "confirmed"
    assert decided[first["id"]]["decided_days"] == first["proposed_days"]
    assert decided[second["id"]]["status"] == "overridden"
    assert decided[second["id"]]["decided_days"] == int(days)
    assert decided[second["id"]]["source"] == "Supplier's letter of 12 November"

    # The same pages at phone width: readable without scrolling sideways.
    on_a_phone(
        browser,
        server,
        "TOKEN_SPECIALIST",
        f"{server.base}/rounds/{server.round_id}/lead-times",
        "34-specialist-lead-times-phone",
    )
    on_a_phone(
        browser,
        server,
        "TOKEN_SPECIALIST",
        f"{server.base}/lead-time-adjustments/{second['id']}/review",
        "35-specialist-lead-time-review-phone",
    )
