"""The web pages in a real browser: Debian's headless Chromium driven by Playwright against
``poolbuy serve --demo`` started as a subprocess on a free port with a temporary SQLite
database, as a newcomer would start it.

The tests run in file order and build on each other, as the group's week does: a local
team member submits a need (with a mistake first) and uploads a spreadsheet with a bad
row; a technical specialist changes an offer's price tiers (a mistake first); the
coordinator closes and runs the round, follows the run, opens the plan with its charts
and reads a scenario beside the run; a chief of mission approves. Each page is saved as a
screenshot in ``artifacts/screenshots/`` (git-ignored; CI keeps it as an artefact).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
START_TIMEOUT = 120
SOLVE_TIMEOUT_MS = 180_000

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's Chromium is not installed at /usr/bin/chromium (CI installs it with "
        ".ci/browser: apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@dataclass
class Server:
    base: str
    tokens: dict[str, str]
    round_id: int

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base}/api/v1",
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("browser")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'poolbuy.db'}",
        "POOLBUY_ENVIRONMENT": "development",
        "PYTHONUNBUFFERED": "1",
    }
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--demo",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"poolbuy serve --demo exited with {process.returncode}:\n"
                    + (folder / "serve.log").read_text()
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("poolbuy serve --demo did not start in time")
            time.sleep(0.3)
        printed = "".join(lines)
        tokens = dict(re.findall(r"^export (TOKEN_\w+)=(\S+)$", printed, re.M))
        round_id = int(re.search(r"^export ROUND=(\d+)$", printed, re.M).group(1))  # type: ignore[union-attr]
        assert "TOKEN_LOCAL_IOM" in tokens and "TOKEN_COORDINATOR" in tokens, printed
        yield Server(base, tokens, round_id)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def signed_in(browser: Browser, server: Server, who: str, **context: Any) -> Page:
    options: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, **context}
    page = browser.new_context(**options).new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{server.base}/sign-in")
    page.get_by_label("API token (required)").fill(server.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Procurement rounds")).to_be_visible()
    return page


PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
}


def on_a_phone(browser: Browser, server: Server, who: str, url: str, name: str) -> Page:
    """The same page on a phone: readable without scrolling sideways, and saved."""
    phone = signed_in(browser, server, who, **PHONE)
    phone.goto(url)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, (url, width)
    shot(phone, name)
    return phone


def iom_needs(server: Server) -> int:
    with server.api("TOKEN_LOCAL_IOM") as api:
        listed = api.get(f"/rounds/{server.round_id}/needs", params={"agency_id": "IOM"})
        listed.raise_for_status()
        return int(listed.json()["total"])


def catalogue_codes(server: Server) -> tuple[str, str, str]:
    """An item, its name and a location of the demo catalogue."""
    with server.api("TOKEN_LOCAL_IOM") as api:
        item = api.get("/items", params={"limit": 1, "active": "true"}).json()["items"][0]
        location = api.get("/locations", params={"limit": 1}).json()["items"][0]
    return item["id"], item["name"], location["id"]


NEED_BY = (dt.date.today() + dt.timedelta(days=40)).isoformat()


def test_sign_in_page(browser: Browser, server: Server) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{server.base}/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API token (required)").fill("pb_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_contain_text("malformed token")
    shot(page, "01-sign-in-refused")
    page.close()


def test_an_unknown_address_is_a_page_not_json(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "TOKEN_LOCAL_IOM")
    page.goto(f"{server.base}/rounds/oops/typo")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Go to the rounds")).to_be_visible()
    shot(page, "01b-not-found")
    on_a_phone(browser, server, "TOKEN_LOCAL_IOM", page.url, "01c-not-found-phone")


def test_local_team_submits_a_need_after_fixing_a_mistake(browser: Browser, server: Server) -> None:
    item, item_name, location = catalogue_codes(server)
    before = iom_needs(server)
    page = signed_in(browser, server, "TOKEN_LOCAL_IOM")
    page.goto(f"{server.base}/rounds/{server.round_id}")
    expect(page.locator(".roles")).to_have_text("local team member")  # words, not codes
    shot(page, "02-round-local-team")
    page.get_by_role("link", name="Add a need").click()

    page.get_by_label("Item (required)").select_option(item)
    page.get_by_label("Location (required)").select_option(location)
    page.get_by_label("Quantity (required)").fill("five hundred")
    page.get_by_label("Need by (required)").fill(NEED_BY)
    page.get_by_label("critical").check()
    page.get_by_role("button", name="Submit the need").click()

    expect(page.locator("#quantity-error")).to_contain_text("enter a whole number")
    expect(page.locator("#justification-error")).to_contain_text("required for a critical need")
    expect(page.locator("#error-summary")).to_be_focused()
    shot(page, "03-need-with-mistakes")
    assert iom_needs(server) == before

    page.get_by_label("Quantity (required)").fill("500")
    page.get_by_label("Justification").fill("Respiratory outbreak among new arrivals")
    page.get_by_role("button", name="Submit the need").click()
    expect(page.get_by_role("status")).to_contain_text("submitted")
    shot(page, "04-need-submitted")
    assert iom_needs(server) == before + 1
    # The table names the item (its code is for files).
    row = page.locator("table.needs tbody tr").filter(has_text=item_name).filter(has_text="500")
    expect(row.first).to_be_visible()


def test_local_team_upload_with_a_bad_row_imports_nothing(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    item, _name, location = catalogue_codes(server)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "needs"
    sheet.append(["item", "location", "quantity", "need_by", "priority", "justification"])
    sheet.append([item, location, 120, NEED_BY, "normal", ""])
    sheet.append([item, location, -3, NEED_BY, "normal", ""])
    sheet.append([item, location, 80, NEED_BY, "high", "school term starts"])
    upload = tmp_path / "iom-needs.xlsx"
    book.save(upload)
    before = iom_needs(server)

    page = signed_in(browser, server, "TOKEN_LOCAL_IOM")
    page.goto(f"{server.base}/rounds/{server.round_id}")
    page.get_by_role("link", name="Upload needs from a spreadsheet").click()
    page.get_by_label("Spreadsheet (CSV or XLSX) (required)").set_input_files(upload)
    page.get_by_role("button", name="Upload").click()

    expect(page.get_by_role("heading", name="iom-needs.xlsx was not imported")).to_be_visible()
    problems = page.locator("table", has=page.locator("caption", has_text="Problems in"))
    expect(problems.locator("tbody tr")).to_have_count(1)
    expect(problems).to_contain_text("row 3, quantity")
    shot(page, "05-upload-bad-row")
    assert iom_needs(server) == before


def test_technical_specialist_pages(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "TOKEN_SPECIALIST")
    page.get_by_role("link", name="Catalogue").click()
    page.get_by_label("Name, code or UNSPSC code").fill("42")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table tbody tr").first).to_be_visible()
    shot(page, "06-catalogue-items-unspsc")
    page.get_by_role("link", name="Offers", exact=True).click()
    expect(page.locator("ul.tiers").first).to_be_visible()
    # Suppliers and items by name, prices with their currency.
    expect(page.locator("table thead")).to_contain_text("Price tiers (USD)")
    with server.api("TOKEN_SPECIALIST") as api:
        first = api.get("/offers", params={"limit": 1}).json()["items"][0]
        supplier = api.get(f"/suppliers/{first['supplier_id']}").json()
    expect(page.locator(f"#offer-{first['id']}")).to_contain_text(supplier["name"])
    shot(page, "07-catalogue-offers")
    on_a_phone(browser, server, "TOKEN_SPECIALIST", page.url, "07b-catalogue-offers-phone")
    page.get_by_role("link", name="Routes", exact=True).first.click()
    shot(page, "08-catalogue-routes")
    page.goto(f"{server.base}/rounds/{server.round_id}/reviews")
    expect(page.locator("#left-to-review")).to_contain_text("left to review")
    page.get_by_label("Review", exact=True).select_option("to_review")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table tbody")).to_contain_text("not yet")
    shot(page, "08b-reviews-left")
    on_a_phone(browser, server, "TOKEN_SPECIALIST", page.url, "08c-reviews-left-phone")
    page.get_by_role("link", name=re.compile(r"^Review need")).first.click()
    page.get_by_role("radio", name="critical").check()
    page.get_by_label("Evidence").fill("Suspected measles cases up 40% in 4 weeks")
    page.get_by_label("Source").fill("MINSA epidemiological bulletin, week 46")
    shot(page, "09-priority-review")
    page.get_by_role("button", name="Record the review").click()
    expect(page.get_by_role("status")).to_contain_text("priority critical confirmed")
    page.get_by_label("Review", exact=True).select_option("reviewed")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table tbody")).to_contain_text("Dr. Luis P\u00e9rez")  # the reviewer
    shot(page, "09a-reviews-done")


def open_offer(server: Server) -> dict[str, Any]:
    """An offer of the demo catalogue that is nobody's agreement, with one price tier."""
    with server.api("TOKEN_SPECIALIST") as api:
        offers = api.get("/offers", params={"limit": 100}).json()["items"]
    return next(o for o in offers if o["owner_agency_id"] is None and len(o["price_tiers"]) == 1)


def test_technical_specialist_changes_an_offer_after_a_mistake(
    browser: Browser, server: Server
) -> None:
    offer = open_offer(server)
    [first] = offer["price_tiers"]
    step = first["min_quantity"] + 500
    page = signed_in(browser, server, "TOKEN_SPECIALIST")
    page.goto(
        f"{server.base}/catalogue/offers?item_id={offer['item_id']}"
        f"&supplier_id={offer['supplier_id']}"
    )
    page.get_by_role("link", name=f"Change offer {offer['id']}").click()
    expect(page.get_by_role("heading", name=f"Change offer #{offer['id']}")).to_be_visible()

    # A second tier whose price rises: tiers are volume discounts.
    page.get_by_label("Tier 2 from quantity").fill(str(step))
    page.get_by_label("Tier 2 unit price").fill(f"{first['unit_price'] * 2:.2f}")
    page.get_by_label("Capacity (required)").fill("a lot")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#capacity-error")).to_contain_text("enter a whole number")
    # A minimum order above the capacity could never be placed: refused, next to the field.
    page.get_by_label("Capacity (required)").fill("100")
    page.get_by_label("Minimum order").fill("500")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#min_order_quantity-error")).to_contain_text("above the capacity (100)")
    shot(page, "09b0-offer-minimum-above-capacity")
    page.get_by_label("Minimum order").fill(str(offer["min_order_quantity"]))
    page.get_by_label("Capacity (required)").fill("a lot")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#tier_unit_price_1-error")).to_contain_text("must not be above")
    expect(page.locator("#capacity-error")).to_contain_text("enter a whole number")
    expect(page.locator("#error-summary")).to_be_focused()
    shot(page, "09b-offer-with-mistakes")
    with server.api("TOKEN_SPECIALIST") as api:
        assert api.get(f"/offers/{offer['id']}").json()["price_tiers"] == offer["price_tiers"]

    cheaper = round(first["unit_price"] * 0.9, 2)
    page.get_by_label("Tier 2 unit price").fill(f"{cheaper:.2f}")
    page.get_by_label("Capacity (required)").fill(f"{offer['capacity'] + 1000:,}")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text(f"Offer #{offer['id']} saved.")
    expect(page.locator(f"#offer-{offer['id']}")).to_contain_text(f"{step:,}+")
    shot(page, "09c-offer-saved")
    with server.api("TOKEN_SPECIALIST") as api:
        saved = api.get(f"/offers/{offer['id']}").json()
    assert saved["price_tiers"] == [first, {"min_quantity": step, "unit_price": cheaper}]
    assert saved["capacity"] == offer["capacity"] + 1000


def test_coordinator_closes_runs_and_sees_the_plan(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "TOKEN_COORDINATOR")
    page.goto(f"{server.base}/rounds/{server.round_id}")
    shot(page, "10-round-coordinator")
    # Closing asks first, and names the drafts it leaves out and their owners.
    page.get_by_role("link", name="Close the round and run it").click()
    expect(page.get_by_role("heading", name="Close")).to_be_visible()
    expect(page.locator("#out-title")).to_have_text(re.compile("Left out|No drafts left out"))
    expect(page.locator("#going-in")).to_be_visible()
    shot(page, "10b-close-confirm")
    on_a_phone(browser, server, "TOKEN_COORDINATOR", page.url, "10c-close-confirm-phone")
    page.get_by_role("button", name=re.compile("^Close")).click()

    expect(page.get_by_role("heading", name="Run #1")).to_be_visible()
    expect(page.locator("#run-progress")).to_be_visible()
    shot(page, "11-run-progress")
    # The page follows the run by itself and shows the plan's link when it is solved.
    plan_link = page.get_by_role("link", name="See the plan")
    expect(plan_link).to_be_visible(timeout=SOLVE_TIMEOUT_MS)
    expect(page.locator("#run-progress")).to_contain_text("Succeeded")
    expect(page.locator("main")).not_to_contain_text("objective")
    expect(page.locator("dl.facts").first).to_contain_text("UTC\u221205:00")
    shot(page, "12-run-done")

    plan_link.click()
    expect(page.get_by_role("heading", name="The plan of run #1")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("^What pooling saves"))).to_be_visible()
    expect(page.locator("svg.matrix-chart")).to_be_visible()
    expect(page.locator("#cost-statements tbody tr")).to_have_count(8)
    expect(page.get_by_role("heading", name="Consolidated orders per supplier")).to_be_visible()
    # Late awards are said to be late, with their days and priority.
    with server.api("TOKEN_COORDINATOR") as api:
        run = api.get(f"/rounds/{server.round_id}/runs").json()["items"][0]
        late = [
            a for a in api.get(f"/runs/{run['id']}").json()["plan"]["awards"] if a["late_days"] > 0
        ]
    if late:
        expect(page.locator("#late tbody tr")).to_have_count(len(late))
        expect(page.locator("#late")).to_contain_text(" late")
    # Each supplier's purchase order, numbered, as a PDF.
    pdf = page.get_by_role("link", name=re.compile(r"^Purchase order PO-")).first
    with page.expect_download() as download:
        pdf.click()
    assert download.value.suggested_filename.endswith(".pdf")
    shot(page, "13-plan")
    page.locator("#late-title").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "13b-plan-late.png"))

    phone = signed_in(
        browser,
        server,
        "TOKEN_COORDINATOR",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
    )
    phone.goto(page.url)
    expect(phone.get_by_role("img", name=re.compile("^What pooling saves"))).to_be_visible()
    # Readable on a small screen: the page itself does not scroll sideways.
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, width
    shot(phone, "14-plan-phone")

    # Scenarios: the cost-against-lateness frontier, solved as jobs, drawn on the plan page.
    page.goto(page.url.removesuffix("/plan"))
    page.get_by_role("button", name="Solve the frontier").click()
    expect(page.get_by_role("status")).to_contain_text("frontier")
    expect(page.locator("#scenarios")).not_to_contain_text("queued", timeout=SOLVE_TIMEOUT_MS)
    expect(page.locator("#scenarios")).not_to_contain_text("running", timeout=SOLVE_TIMEOUT_MS)
    page.get_by_role("link", name="See the plan").click()
    expect(page.locator("svg.line-chart")).to_be_visible()
    page.locator("#frontier-title").scroll_into_view_if_needed()
    shot(page, "15-plan-with-frontier")


def test_coordinator_reads_a_scenario_beside_the_run(browser: Browser, server: Server) -> None:
    with server.api("TOKEN_COORDINATOR") as api:
        run = api.get(f"/rounds/{server.round_id}/runs").json()["items"][0]
    page = signed_in(browser, server, "TOKEN_COORDINATOR")
    page.goto(f"{server.base}/runs/{run['id']}")
    page.get_by_label("Name (required)").fill("orders processed in 2 days")
    page.get_by_label("Order processing days").fill("2")
    page.get_by_role("button", name="Solve this scenario").click()
    expect(page.get_by_role("status")).to_contain_text("queued")
    link = page.locator("#scenarios").get_by_role("link", name="orders processed in 2 days")
    link.click()
    heading = page.get_by_role("heading", name="Scenario “orders processed in 2 days”")
    expect(heading).to_be_visible()
    # The page refreshes itself until the scenario is solved.
    expect(page.locator("#scenario-agencies")).to_be_visible(timeout=SOLVE_TIMEOUT_MS)
    expect(page.locator("#scenario-settings")).to_contain_text("Order processing days")
    expect(page.locator('#scenario-figures tr[data-figure="money_cost"]')).to_be_visible()
    shot(page, "15b-scenario")

    phone = signed_in(
        browser,
        server,
        "TOKEN_COORDINATOR",
        viewport={"width": 375, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
    )
    phone.goto(page.url)
    expect(phone.locator("#scenario-figures")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1, width
    shot(phone, "15c-scenario-phone")


def test_chief_of_mission_approves(browser: Browser, server: Server) -> None:
    with server.api("TOKEN_COORDINATOR") as api:
        runs = api.get(f"/rounds/{server.round_id}/runs").json()["items"]
    run_id = runs[0]["id"]
    page = signed_in(browser, server, "TOKEN_CHIEF_IOM")
    page.goto(f"{server.base}/runs/{run_id}/plan")
    page.get_by_role("radio", name="Reject").check()
    page.get_by_role("button", name="Send the decision").click()
    expect(page.locator("#reason-error")).to_contain_text("a rejection needs a reason")
    shot(page, "16-chief-reject-without-reason")
    # The chief's page leads with IOM's share: costs, late awards, unmet needs.
    share = page.locator("#share")
    expect(share).to_be_visible()
    expect(share).to_contain_text("IOM")
    expect(share.get_by_role("link", name="Read the full plan")).to_be_visible()
    page.goto(f"{server.base}/runs/{run_id}/plan")
    shot(page, "16a-chief-share")
    on_a_phone(browser, server, "TOKEN_CHIEF_IOM", page.url, "16b-chief-share-phone")

    page.get_by_role("radio", name="Approve").check()
    page.get_by_role("button", name="Send the decision").click()
    expect(page.get_by_role("status")).to_contain_text("You approved IOM's share")
    expect(page.locator("#approval")).to_be_visible()
    shot(page, "17-chief-approved")
    with server.api("TOKEN_CHIEF_IOM") as api:
        decision = api.get(f"/runs/{run_id}/approvals/IOM").json()
    assert decision["decision"] == "approved"


def test_a_rejection_is_shown_on_the_round_with_who_and_why(
    browser: Browser, server: Server
) -> None:
    with server.api("TOKEN_COORDINATOR") as api:
        run_id = api.get(f"/rounds/{server.round_id}/runs").json()["items"][0]["id"]
        required = api.get(f"/runs/{run_id}").json()["approval"]["pending"]
    chief = next(f"TOKEN_CHIEF_{a}" for a in required if f"TOKEN_CHIEF_{a}" in server.tokens)
    page = signed_in(browser, server, chief)
    page.goto(f"{server.base}/runs/{run_id}/plan")
    page.get_by_role("radio", name="Reject").check()
    reason = "the critical blankets arrive a day late"
    page.get_by_label("Reason (required to reject)").fill(reason)
    page.get_by_role("button", name="Send the decision").click()
    expect(page.get_by_role("status")).to_contain_text("You rejected")

    coordinator = signed_in(browser, server, "TOKEN_COORDINATOR")
    coordinator.goto(f"{server.base}/rounds/{server.round_id}")
    notice = coordinator.locator("#rejected")
    expect(notice).to_contain_text("was rejected")
    expect(notice).to_contain_text(reason)
    expect(coordinator.locator("main")).not_to_contain_text("is ready")
    shot(coordinator, "18-round-rejected")
    on_a_phone(browser, server, "TOKEN_COORDINATOR", coordinator.url, "18b-round-rejected-phone")


def test_field_officer_records_a_partial_delivery_then_the_rest_on_a_phone(
    browser: Browser, server: Server
) -> None:
    # The rejected run (the test above) is run again; the chiefs approve the new run through
    # the API, and the approval that binds it issues the round's purchase orders.
    with server.api("TOKEN_COORDINATOR") as api:
        if api.get(f"/rounds/{server.round_id}").json()["status"] == "rejected":
            rerun = api.post(
                f"/rounds/{server.round_id}/runs", json={}, headers={"Prefer": "wait=120"}
            )
            rerun.raise_for_status()
            assert rerun.json()["status"] == "succeeded", rerun.json()["status"]
            run_id = rerun.json()["id"]
        else:
            run_id = api.get(f"/rounds/{server.round_id}/runs").json()["items"][0]["id"]
        pending = api.get(f"/runs/{run_id}").json()["approval"]["pending"]
    for agency in pending:
        with server.api("TOKEN_CHIEF_" + re.sub(r"\W", "_", agency)) as api:
            api.post(f"/runs/{run_id}/approvals", json={"decision": "approved"}).raise_for_status()
    with server.api("TOKEN_LOCAL_IOM") as api:
        lines = api.get(
            "/order-lines", params={"round_id": server.round_id, "agency_id": "IOM"}
        ).json()["items"]
    line = next(x for x in lines if x["state"] == "open" and x["quantity"] >= 2)
    part = line["quantity"] // 2

    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    page = signed_in(browser, server, "TOKEN_LOCAL_IOM", **phone)
    page.goto(f"{server.base}/deliveries?location_id={line['location_id']}")
    page.get_by_role("link", name=f"#{line['id']}").click()
    expect(page.locator("#line-state")).to_have_text("open")
    page.get_by_label("Units received").fill(str(part))
    page.get_by_role("button", name="Record delivery").click()
    expect(page.get_by_role("status")).to_contain_text("The line is partly delivered")
    expect(page.locator("#line-state")).to_have_text("partly delivered")
    expect(page.locator("#remaining")).to_have_text(f"{line['quantity'] - part:,}")
    shot(page, "18-field-officer-partial-delivery-phone")

    page.get_by_label("Units received").fill(str(line["quantity"] - part))
    page.get_by_role("button", name="Record delivery").click()
    expect(page.locator("#line-state")).to_have_text("delivered")
    shot(page, "19-field-officer-line-delivered-phone")
    with server.api("TOKEN_LOCAL_IOM") as api:
        receipts = api.get(f"/order-lines/{line['id']}/receipts").json()["items"]
    assert [r["quantity_received"] for r in receipts] == [part, line["quantity"] - part]


def test_coordinator_opens_the_results_page(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "TOKEN_COORDINATOR")
    page.get_by_role("link", name="Results").click()
    expect(page.get_by_role("heading", name="Results, round over round")).to_be_visible()
    for chart in ("#savings-chart svg", "#otif-chart svg", "#fill-chart svg"):
        expect(page.locator(chart)).to_be_visible()
    # The demo's two past rounds and the one just approved, each with its "all" row.
    expect(page.locator("tr.total")).to_have_count(3)
    shot(page, "20-coordinator-results")
    page.goto(f"{server.base}/supplier-records")
    expect(page.get_by_role("heading", name="Supplier records")).to_be_visible()
    shot(page, "21-supplier-records")
