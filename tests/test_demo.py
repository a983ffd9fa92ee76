"""The Panama demo group: what `load_demo` creates, that it is idempotent and audited, that
its round solves to what the solver gives on the same document, and the `poolbuy demo` and
`poolbuy serve --demo` commands around it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.audit.service import verify_chain
from app.auth import service as auth_service
from app.auth.models import Agency, ApiToken, Role, User
from app.catalogue.models import Item, Location, Offer, Route, Supplier
from app.db import utcnow
from app.deliveries import figures
from app.deliveries.figures import facts
from app.deliveries.models import (
    AdjustmentStatus,
    LeadTimeAdjustment,
    LineState,
    OrderLine,
    Receipt,
)
from app.deliveries.policy import policy
from app.demo.cli import format_tokens, serve_url
from app.demo.history import past_round_names
from app.demo.loader import (
    AGENCIES,
    DEMO_ROUND_NAME,
    DEMO_USERS,
    HISTORY_DAYS,
    OFFER_REFERENCE_PREFIX,
    DemoSummary,
    demo_document,
    find_demo_round,
    issue_demo_tokens,
    load_demo,
    region_of,
)
from app.jobs.models import Job, JobKind
from app.needs.models import Need, NeedStatus, Priority
from app.rounds import flows
from app.rounds.models import Round, RoundStatus
from app.runs.models import RunStatus
from solver import solve, validate
from tests.factories import make_agency, make_item

PLAN_FIGURES = (
    "status",
    "objective",
    "purchase_cost",
    "shipping_cost",
    "money_cost",
    "late_penalty",
    "late_unit_days",
    "unmet_penalty",
    "unmet_units",
    "baseline",
)


def _user(session: Session, email: str) -> User:
    user = session.scalar(sa.select(User).where(User.email == email))
    assert user is not None, email
    return user


def _sorted_or_none(agencies: list[str] | None) -> list[str] | None:
    # Stored eligibility comes back sorted; the order of the list means nothing.
    return None if agencies is None else sorted(agencies)


def _audit_count(session: Session, action: str | None = None, *, since: int = 0) -> int:
    stmt = sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.seq > since)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    return int(session.scalar(stmt) or 0)


@pytest.fixture
def loaded(session: Session) -> DemoSummary:
    return load_demo(session)


# ------------------------------------------------------------------ what it loads


@pytest.mark.integration
def test_the_eight_agencies_and_a_user_for_every_role(
    session: Session, loaded: DemoSummary
) -> None:
    agencies = {a.id: a.name for a in session.scalars(sa.select(Agency))}
    assert agencies == dict(AGENCIES)
    assert agencies["WHO-PAHO"] == "World Health Organization / Pan American Health Organization"

    for code, _name in AGENCIES:
        slug = code.lower()
        local = _user(session, f"local.{slug}@demo.poolbuy.org")
        chief = _user(session, f"chief.{slug}@demo.poolbuy.org")
        assert (local.agency_id, local.role_set) == (code, {Role.local_team})
        assert (chief.agency_id, chief.role_set) == (code, {Role.chief_of_mission})
    specialist = _user(session, "health.lead@demo.poolbuy.org")
    assert (specialist.agency_id, specialist.role_set) == ("WHO-PAHO", {Role.technical_specialist})
    coordinator = _user(session, "coordinator@demo.poolbuy.org")
    assert (coordinator.agency_id, coordinator.role_set) == ("OCHA", {Role.coordinator})
    admin = _user(session, "admin@demo.poolbuy.org")
    assert (admin.agency_id, admin.role_set) == (None, {Role.admin})
    assert len(DEMO_USERS) == 19
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 19
    # Every token variable is a valid shell name and unique.
    variables = [p.variable for p in DEMO_USERS]
    assert len(set(variables)) == len(variables)
    assert all(v.isidentifier() and v.isupper() for v in variables)


@pytest.mark.integration
def test_the_catalogue_is_the_example_document_valid_from_the_history_for_a_year(
    session: Session, loaded: DemoSummary
) -> None:
    assert loaded.as_of is not None
    document = demo_document(0, loaded.as_of)
    today = utcnow().date()

    items = {i.id: (i.name, i.unit, i.category) for i in session.scalars(sa.select(Item))}
    assert items == {i["id"]: (i["name"], i["unit"], i["category"]) for i in document["items"]}
    locations = {loc.id: loc for loc in session.scalars(sa.select(Location))}
    assert {k: v.name for k, v in locations.items()} == {
        p["id"]: p["name"] for p in document["locations"]
    }
    assert locations["pa-darien-lajas-blancas"].region == "Darién"
    assert locations["pa-panama-city-warehouse"].region == "Panamá"
    assert all(loc.region for loc in locations.values())
    assert {s.id: s.name for s in session.scalars(sa.select(Supplier))} == {
        s["id"]: s["name"] for s in document["suppliers"]
    }

    offers = {o.reference: o for o in session.scalars(sa.select(Offer))}
    assert len(offers) == len(document["offers"]) == 36
    for expected in document["offers"]:
        offer = offers[f"{OFFER_REFERENCE_PREFIX}{expected['id']}"]
        assert (offer.supplier_id, offer.item_id) == (expected["supplier"], expected["item"])
        assert [(t.min_quantity, float(t.unit_price)) for t in offer.price_tiers] == [
            (t["min_quantity"], t["unit_price"]) for t in expected["price_tiers"]
        ]
        assert (offer.capacity, offer.min_order_quantity, offer.lead_time_days) == (
            expected["capacity"],
            expected["min_order_quantity"],
            expected["lead_time_days"],
        )
        assert offer.eligible_agency_ids == _sorted_or_none(expected["eligible_agencies"])
        # Valid for a year from today, and from before the demo's past rounds.
        assert (offer.valid_from, offer.valid_to) == (
            today - dt.timedelta(days=HISTORY_DAYS),
            today + dt.timedelta(days=365),
        )
    # Some offers are restricted to some agencies: eligibility made it through.
    assert any(o.eligibility_restricted for o in offers.values())

    routes = {
        (r.supplier_id, r.location_id): (float(r.fixed_cost), float(r.unit_cost), r.transit_days)
        for r in session.scalars(sa.select(Route))
    }
    assert routes == {
        (r["supplier"], r["location"]): (r["fixed_cost"], r["unit_cost"], r["transit_days"])
        for r in document["routes"]
    }


@pytest.mark.integration
def test_one_open_round_a_week_ahead_with_the_documents_needs_submitted(
    session: Session, loaded: DemoSummary
) -> None:
    round_ = find_demo_round(session)
    assert round_ is not None and round_.id == loaded.round_id
    assert round_.name == DEMO_ROUND_NAME == "Panama COVID-19 response, December pooling round"
    assert round_.status == RoundStatus.open
    ahead = round_.deadline - utcnow()
    assert dt.timedelta(days=6, hours=22) < ahead <= dt.timedelta(days=7)
    assert round_.as_of == round_.deadline.date()
    assert round_.created_by.email == "coordinator@demo.poolbuy.org"

    document = demo_document(0, round_.as_of)
    needs = list(
        session.scalars(sa.select(Need).where(Need.round_id == round_.id).order_by(Need.id))
    )
    assert len(needs) == len(document["needs"]) == loaded.needs_in_round == 40
    for need, expected in zip(needs, document["needs"], strict=True):
        assert (
            need.agency_id,
            need.item_id,
            need.location_id,
            need.quantity,
            need.need_by.isoformat(),
            need.priority.value,
        ) == (
            expected["agency"],
            expected["item"],
            expected["location"],
            expected["quantity"],
            expected["need_by"],
            expected["priority"],
        )
        assert need.status == NeedStatus.submitted and need.submitted_at is not None
        # Entered by the agency's own local team, as the API would have it.
        assert need.created_by.email == f"local.{need.agency_id.lower()}@demo.poolbuy.org"
        if need.priority in (Priority.critical, Priority.high):
            assert len(need.justification) > 20, need.justification
        assert need.confirmed_priority is None
    assert {p for p in (n.priority for n in needs)} == set(Priority)


@pytest.mark.integration
def test_the_summary_says_what_was_created(loaded: DemoSummary) -> None:
    assert loaded.changed
    assert dict(loaded.created) == {
        "agencies": 8,
        "users": 19,
        "items": 12,
        "locations": 6,
        "suppliers": 6,
        # Rounds: the open one, and the two past rounds of app.demo.history.
        "offers": 36,
        "routes": 22,
        "rules": 2,
        "rounds": 3,
        "needs": 40,
        "budgets": 1,
    }
    text = loaded.describe()
    assert text.startswith("Loaded the Panama demo group: created 8 agencies, 19 users, ")
    assert "3 rounds, 40 needs" in text and "is open (40 needs" in text


@pytest.mark.integration
def test_two_past_rounds_delivered_late_short_and_with_a_rejection_teach_the_open_round(
    session: Session, loaded: DemoSummary
) -> None:
    today = utcnow().date()
    past = [session.scalar(sa.select(Round).where(Round.name == n)) for n in past_round_names()]
    assert all(r is not None and r.status == RoundStatus.approved for r in past)
    lines = list(session.scalars(sa.select(OrderLine).order_by(OrderLine.id)))
    assert lines and {line.order.round_id for line in lines} == {r.id for r in past if r}
    grace = policy(session).grace_days
    states = Counter(figures.state(facts(line), today, grace) for line in lines)
    assert states[LineState.closed_short] > 0 and states[LineState.delivered] > 0
    late = [
        line
        for line in lines
        if any(r.received_on > line.promised_on + dt.timedelta(days=grace) for r in line.receipts)
    ]
    assert late
    rejected = [r for line in lines for r in line.receipts if r.quantity_rejected]
    assert len(rejected) == 1 and rejected[0].rejection_reason is not None
    # Every receipt was recorded by the line's own agency's local team, after its order.
    for line in lines:
        for receipt in line.receipts:
            assert receipt.recorded_by.agency_id == line.agency_id
            assert line.order.issued_on <= receipt.received_on <= today
    adjustments = list(
        session.scalars(
            sa.select(LeadTimeAdjustment).where(LeadTimeAdjustment.round_id == loaded.round_id)
        )
    )
    assert adjustments and all(a.status == AdjustmentStatus.proposed for a in adjustments)
    assert any(a.proposed_days > a.promised_days for a in adjustments)


# ------------------------------------------------------------ idempotent, audited


@pytest.mark.integration
def test_a_second_load_changes_nothing_and_says_so(session: Session, loaded: DemoSummary) -> None:
    entries = _audit_count(session)
    versions = sorted(session.scalars(sa.select(Offer.version)))

    again = load_demo(session)

    assert not again.changed
    assert sum(again.created.values()) == 0
    assert again.round_id == loaded.round_id and again.needs_in_round == 40
    assert "already loaded; nothing changed" in again.describe()
    assert _audit_count(session) == entries
    assert sorted(session.scalars(sa.select(Offer.version))) == versions


@pytest.mark.integration
def test_a_later_load_keeps_the_rounds_dates_and_needs(
    session: Session, loaded: DemoSummary
) -> None:
    # A need withdrawn by its agency stays withdrawn: the loader never re-creates needs.
    need = session.scalars(sa.select(Need).order_by(Need.id)).first()
    assert need is not None
    need.status = NeedStatus.withdrawn
    session.flush()

    later = load_demo(session, now=utcnow() + dt.timedelta(days=3))

    assert not later.changed
    assert later.as_of == loaded.as_of and later.deadline == loaded.deadline
    in_round = sa.select(sa.func.count()).select_from(Need).where(Need.round_id == loaded.round_id)
    assert session.scalar(in_round) == 40


@pytest.mark.integration
def test_only_what_is_missing_is_created(session: Session) -> None:
    # An operator made IOM and one catalogue item before loading the demo.
    make_agency(session, "IOM", "IOM (as the operator named it)")
    make_item(session, "shl-blanket", name="Blanket, the operator's", unit="each")
    before = _audit_count(session)

    summary = load_demo(session)

    assert summary.created["agencies"] == 7 and summary.created["items"] == 11
    assert session.get(Agency, "IOM").name == "IOM (as the operator named it)"  # type: ignore[union-attr]
    assert session.get(Item, "shl-blanket").name == "Blanket, the operator's"  # type: ignore[union-attr]
    # One entry per row created; the past rounds' life (runs, orders, receipts) adds its own.
    singular = {"agencies": "agency", "users": "user", "items": "item", "locations": "location"}
    for kind in ("agencies", "users", "items", "locations", "suppliers", "offers", "routes"):
        action = f"{singular.get(kind, kind.removesuffix('s'))}.create"
        assert _audit_count(session, action, since=before) == summary.created[kind], kind


@pytest.mark.integration
def test_every_row_the_demo_makes_has_its_audit_entry_and_the_chain_holds(
    session: Session, loaded: DemoSummary
) -> None:
    actions = Counter(session.scalars(sa.select(AuditEntry.action)))
    past_needs = session.scalar(
        sa.select(sa.func.count()).select_from(Need).where(Need.round_id != loaded.round_id)
    )
    batches = session.scalar(
        sa.select(sa.func.count()).select_from(Job).where(Job.kind == JobKind.coalitions)
    )
    # The open round and the two past ones (app.demo.history), with their needs, runs,
    # approvals and receipts.
    assert {k: actions[k] for k in actions if k.endswith(".create")} == {
        "agency.create": 8,
        "user.create": 19,
        "item.create": 12,
        "location.create": 6,
        "supplier.create": 6,
        "offer.create": 36,
        "route.create": 22,
        "round.create": 3,
        "need.create": 40 + (past_needs or 0),
        "run.create": 2,
        # The two past runs' jobs and, as their rounds check fairness, their batches of
        # coalitions (app.runs.coalitions).
        "job.create": 2 + batches,
        "approval.create": actions["approval.create"],
        "receipt.create": session.scalar(sa.select(sa.func.count()).select_from(Receipt)),
        "award_rule.create": 2,
        "agency_budget.create": 1,
    }
    assert actions["purchase_order.issue"] > 0 and actions["lead_time_adjustment.propose"] > 0
    by_action = {
        e.action: e for e in session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq))
    }
    # Needs and the round are the acts of the people whose role it is.
    assert by_action["need.create"].actor_name.startswith("local.")
    assert by_action["round.create"].actor_name == "coordinator@demo.poolbuy.org"
    # The budget is its agency's chief's act; the rules the health lead's.
    assert by_action["agency_budget.create"].actor_name.startswith("chief.")
    assert by_action["offer.create"].after["reference"].startswith(OFFER_REFERENCE_PREFIX)
    report = verify_chain(session)
    assert report.ok, report


# --------------------------------------------------------------- the round solved


@pytest.mark.integration
def test_the_closed_demo_round_plans_what_the_solver_gives_on_the_same_document(
    session: Session, loaded: DemoSummary
) -> None:
    coordinator = _user(session, "coordinator@demo.poolbuy.org")

    run = flows.close_round(session, coordinator, loaded.round_id)

    assert run.status == RunStatus.succeeded and run.plan is not None
    assert run.plan["status"] == "optimal"
    validate(run.problem)
    again = solve(run.problem)
    assert {k: run.plan[k] for k in PLAN_FIGURES} == {k: again[k] for k in PLAN_FIGURES}
    assert sorted(run.plan["agencies"], key=lambda a: a["agency"]) == sorted(
        again["agencies"], key=lambda a: a["agency"]
    )

    # And the frozen document is the example document, renumbered: same needs in the
    # same order, same offers by reference, same settings once defaults are filled in.
    assert loaded.as_of is not None
    example = demo_document(0, loaded.as_of)
    assert run.problem["as_of"] == example["as_of"]

    def need_line(n: dict[str, Any]) -> tuple[Any, ...]:
        return (n["agency"], n["item"], n["location"], n["quantity"], n["need_by"], n["priority"])

    assert [need_line(n) for n in run.problem["needs"]] == [need_line(n) for n in example["needs"]]
    references = {f"o-{o.id}": o.reference or "" for o in session.scalars(sa.select(Offer))}
    frozen_offers = {
        references[o["id"]].removeprefix(OFFER_REFERENCE_PREFIX): {**o, "id": None}
        for o in run.problem["offers"]
    }
    example_offers = {
        # Contract v2's defaults written out, as the snapshot writes them.
        o["id"]: {
            "pack_size": 1,
            "fee_rate": 0.0,
            **o,
            "id": None,
            "eligible_agencies": _sorted_or_none(o["eligible_agencies"]),
        }
        for o in example["offers"]
    }
    assert frozen_offers == {k: v for k, v in example_offers.items() if k in frozen_offers}
    items_needed = {n["item"] for n in example["needs"]}
    assert set(frozen_offers) == {k for k, v in example_offers.items() if v["item"] in items_needed}

    # The example solved by itself gives the same figures: nothing was lost on the way.
    direct = solve(example)
    for key in (
        "status",
        "purchase_cost",
        "shipping_cost",
        "money_cost",
        "unmet_units",
        "late_unit_days",
        "baseline",
    ):
        assert run.plan[key] == direct[key], key
    assert run.plan["objective"] == pytest.approx(direct["objective"], rel=1e-9)


# ------------------------------------------------------------------------ tokens


@pytest.mark.integration
def test_a_token_per_demo_user_that_authenticates_as_them(
    session: Session, loaded: DemoSummary
) -> None:
    tokens = issue_demo_tokens(session)

    assert [t.person for t in tokens] == list(DEMO_USERS)
    for issued in tokens:
        assert auth_service.authenticate(session, issued.token).email == issued.person.email
        assert issued.expires_at > utcnow() + dt.timedelta(days=29)
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == len(DEMO_USERS)
    # Only hashes are kept, in the table and in the log.
    for entry in session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "token.create")):
        assert "token_hash" not in entry.after
    assert all(
        t.token not in str(row.after)
        for row in session.scalars(sa.select(AuditEntry))
        for t in tokens
    )


@pytest.mark.unit
def test_the_printed_block_pastes_into_a_shell_as_exports_only() -> None:
    from app.demo.loader import DemoToken

    tokens = [
        DemoToken(person, f"pb_{'x' * 43}", dt.datetime(2026, 12, 28, tzinfo=dt.UTC))
        for person in DEMO_USERS
    ]
    text = format_tokens(tokens, base_url="http://127.0.0.1:8000", round_id=3)

    lines = text.splitlines()
    start = lines.index("export BASE=http://127.0.0.1:8000")
    block = lines[start:]
    assert block[1] == "export ROUND=3"
    assert block[2:] == [f"export {p.variable}=pb_{'x' * 43}" for p in DEMO_USERS]
    # Who is who, above the block: name, agency, role and e-mail per variable.
    chief_who = next(line for line in lines if line.strip().startswith("TOKEN_CHIEF_WHO_PAHO "))
    assert "Jorge Castillo" in chief_who and "WHO-PAHO" in chief_who
    assert "chief_of_mission" in chief_who and "chief.who-paho@demo.poolbuy.org" in chief_who
    assert "valid until 2026-12-28" in text


@pytest.mark.unit
def test_the_printed_address_is_one_a_browser_on_this_machine_reaches() -> None:
    assert serve_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert serve_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert serve_url("::", 8000) == "http://[::1]:8000"
    assert serve_url("example.org", 80) == "http://example.org:80"
    assert region_of("pa-panama-oeste-la-chorrera") == "Panamá Oeste"
    assert region_of("somewhere-else") is None


# ------------------------------------------------------------------- the commands


def _poolbuy(
    *args: str, database_url: str, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "poolbuy"
    environment = {**os.environ, "DATABASE_URL": database_url, **env}
    return subprocess.run(
        [str(script), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.integration
def test_poolbuy_demo_loads_once_then_says_nothing_changed(
    database_factory: Any, tmp_path: Path
) -> None:
    url = database_factory.create()  # empty: the command migrates it first

    first = _poolbuy("demo", database_url=url, cwd=tmp_path)
    second = _poolbuy("demo", "--tokens", database_url=url, cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Loaded the Panama demo group: created 8 agencies, 19 users")
    assert "export TOKEN" not in first.stdout
    assert second.returncode == 0, second.stderr
    assert "already loaded; nothing changed" in second.stdout
    exports = [line for line in second.stdout.splitlines() if line.startswith("export TOKEN_")]
    assert len(exports) == len(DEMO_USERS)


@pytest.mark.integration
def test_poolbuy_demo_on_a_database_without_schema_says_how_to_make_it(
    database_factory: Any, tmp_path: Path
) -> None:
    url = database_factory.create()

    result = _poolbuy("demo", database_url=url, cwd=tmp_path, POOLBUY_AUTO_MIGRATE="false")

    assert result.returncode == 1
    assert "poolbuy db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_serve_demo_prints_the_tokens_before_uvicorn_starts(
    monkeypatch: pytest.MonkeyPatch, database_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    from app import cli
    from app.db import get_engine, get_session_factory
    from app.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_factory.create())
    monkeypatch.delenv("POOLBUY_AUTO_MIGRATE", raising=False)
    printed_before_start: list[str] = []

    def fake_run(*_args: Any, **_kwargs: Any) -> None:
        printed_before_start.append(capsys.readouterr().out)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    caches = (get_settings, get_engine, get_session_factory)
    for cached in caches:
        cached.cache_clear()
    try:
        assert cli.main(["serve", "--demo", "--port", "8123"]) == 0
        assert cli.main(["serve", "--demo", "--port", "8123"]) == 0
    finally:
        get_engine().dispose()
        for cached in caches:
            cached.cache_clear()

    first, second = printed_before_start
    assert "Loaded the Panama demo group" in first
    assert "already loaded; nothing changed" in second
    for output in (first, second):
        assert "export BASE=http://127.0.0.1:8123" in output
        assert "export ROUND=" in output
        assert sum(line.startswith("export TOKEN_") for line in output.splitlines()) == 19
