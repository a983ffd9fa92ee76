"""A run: its progress (followed live), the plan with its charts, and the chiefs' decisions.

What a person sees of a run is what ``GET /api/v1/runs/{id}`` shows them
(``runs_service.run_read``): the status, the ``progress`` document the solver
fills in, and, once there is a plan, the figures regrouped by ``app.runs.outputs``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from app.api.params import IdPath
from app.auth.deps import require_roles
from app.auth.models import Role, User
from app.db import SessionDep
from app.deliveries import learning
from app.deliveries import service as deliveries_service
from app.errors import Conflict, FieldIssue, field_issues
from app.exchange.service import group_zone
from app.jobs import service as jobs_service
from app.jobs.deps import JobBackendDep
from app.rounds import flows
from app.rounds.models import RoundStatus
from app.runs import coalitions as run_coalitions
from app.runs import outputs, three_w
from app.runs import service as runs_service
from app.runs.models import Decision, RunStatus
from app.runs.schemas import ApprovalCreate, RunRead
from app.scenarios import service as scenarios_service
from app.scenarios.schemas import FrontierCreate, ScenarioCreate
from app.settings import Settings
from app.web import charts
from app.web.deps import (
    CheckedForm,
    SettingsDep,
    WebRoute,
    WebUser,
    document_names,
    field_errors,
    money,
    name_codes,
    page_markup,
    percent,
    redirect,
    render,
    text,
)
from app.web.pages.plan_sourcing import sourcing_context

router = APIRouter(route_class=WebRoute, include_in_schema=False)

FINISHED = frozenset({RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled})


# ------------------------------------------------------------------------ progress


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _stage(entry: dict[str, Any]) -> dict[str, Any]:
    """One stage's report: the best plan's objective so far (``incumbent`` in the jobs'
    reports, ``objective`` in the solver's), its bound, the gap, seconds, done."""
    best = entry.get("incumbent", entry.get("objective"))
    return {
        "done": bool(entry.get("done")),
        "best": _number(best),
        "bound": _number(entry.get("bound")),
        "gap": _number(entry.get("gap")),
        "seconds": _number(entry.get("seconds")),
    }


def progress_view(read: RunRead, agencies_total: int | None) -> dict[str, Any]:
    """The run's ``progress`` document in the terms the page shows."""
    progress = read.progress or {}
    pooled = progress.get("pooled") or None
    standalone = progress.get("standalone") or {}
    done = sum(1 for entry in standalone.values() if isinstance(entry, dict) and entry.get("done"))
    return {
        "status": read.status.value,
        "state": progress.get("state") or read.status.value,
        "finished": read.status in FINISHED,
        "pooled": _stage(pooled) if isinstance(pooled, dict) else None,
        "standalone_done": done,
        "standalone_started": len(standalone),
        "standalone_total": agencies_total,
        "raw": progress,
    }


def run_context(session: Any, user: User, run_id: int) -> dict[str, Any]:
    visible = runs_service.get_run(session, user, run_id)
    read = runs_service.run_read(visible.run, visible.viewer)
    total = len(outputs.agencies_with_needs(read.problem))
    return {
        "run": visible.run,
        "read": read,
        "round": visible.run.round,
        "viewer": visible.viewer,
        "progress": progress_view(read, total),
    }


def _scenarios_context(session: Any, user: User, context: dict[str, Any]) -> dict[str, Any]:
    """A run's scenarios and frontier points, for whoever sees the run in full."""
    if not context["viewer"].full:
        return {}
    rows = [
        scenarios_service.summary(s)
        for s in session.scalars(scenarios_service.scenarios_query(context["run"].id))
    ]
    return {
        "scenarios": rows,
        "scenarios_busy": any(r.state in jobs_service.IN_PROGRESS for r in rows),
        "may_plan_scenarios": user.has_role(Role.coordinator)
        and context["read"].status == RunStatus.succeeded,
    }


def _render_run(
    request: Request,
    session: Any,
    user: User,
    run_id: IdPath,
    settings: Settings,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    context = run_context(session, user, run_id)
    context["zone"] = group_zone(settings)
    context |= _scenarios_context(session, user, context)
    context |= extra or {}
    return render(request, settings, "run.html", context, status_code=status_code)


@router.get("/runs/{run_id}")
def run_page(
    run_id: IdPath, request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    return _render_run(request, session, user, run_id, settings)


def _optional_number(value: str) -> float | str | None:
    if not value:
        return None
    try:
        return float(value) if "." in value or "e" in value.lower() else int(value)
    except ValueError:
        return value  # the schema says what is wrong with it, next to the field


@router.post("/runs/{run_id}/scenarios")
def create_scenario(
    run_id: IdPath,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    backend: JobBackendDep,
) -> Response:
    """A what-if of the run (a job of its own): another lateness weight, faster orders."""
    require_roles(Role.coordinator)(user)
    values = {
        k: text(form, k)
        for k in ("name", "late_penalty_factor", "order_processing_days", "allocation")
    }
    overrides: dict[str, Any] = {}
    if values["order_processing_days"]:
        overrides["order_processing_days"] = _optional_number(values["order_processing_days"])
    if values["allocation"]:
        overrides["allocation"] = values["allocation"]
    raw: dict[str, Any] = {"name": values["name"]}
    if overrides:
        raw["settings"] = overrides
    if values["late_penalty_factor"]:
        raw["late_penalty_factor"] = _optional_number(values["late_penalty_factor"])
    try:
        body = ScenarioCreate.model_validate(raw)
    except ValidationError as exc:
        # The form's fields are the settings' own names (late_penalty_rate, ...): the
        # last step of each path, the name when the problem is the whole body's.
        issues = [
            FieldIssue("$." + (i.path.rsplit(".", 1)[-1] if i.path != "$" else "name"), i.reason)
            for i in field_issues(exc.errors(include_url=False))
        ]
        extra = {"scenario_values": values, "errors": field_errors(issues)}
        return _render_run(request, session, user, run_id, settings, extra, 422)
    scenario = scenarios_service.create(
        session, user, run_id, body, settings=settings, backend=backend
    )
    return redirect(
        f"/runs/{run_id}#scenarios-title", settings, f"Scenario “{scenario.name}” queued."
    )


@router.post("/runs/{run_id}/frontier")
def create_frontier(
    run_id: IdPath,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    backend: JobBackendDep,
) -> Response:
    """One scenario per lateness weight: the cost-against-lateness frontier."""
    require_roles(Role.coordinator)(user)
    scenarios_service.create_frontier(
        session, user, run_id, FrontierCreate(), settings=settings, backend=backend
    )
    return redirect(
        f"/runs/{run_id}#scenarios-title",
        settings,
        "The frontier's scenarios are queued; its chart is on the plan page once they are solved.",
    )


@router.post("/runs/{run_id}/cancel")
def cancel_run(
    run_id: IdPath, form: CheckedForm, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    """Stop a run still solving (as ``POST /api/v1/runs/{id}/cancel``): a queued one at once,
    a running one at the solver's next heartbeat. It may then be run again."""
    require_roles(Role.coordinator)(user)
    visible = runs_service.get_run(session, user, run_id)
    url = f"/runs/{run_id}"
    job = jobs_service.run_job(session, visible.run.id)
    if job is None or job.state not in jobs_service.IN_PROGRESS:
        return redirect(url, settings, "This run had already finished.", "warn")
    try:
        jobs_service.request_cancel(session, user, job.id)
    except Conflict:
        # It finished between our look and the cancel.
        return redirect(url, settings, "This run had already finished.", "warn")
    return redirect(url, settings, f"Run #{visible.run.number} is being stopped.")


@router.get("/runs/{run_id}/progress")
def run_progress(
    run_id: IdPath, request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    """Just the progress panel, for the page's script to swap in while the run goes on."""
    return render(request, settings, "_progress.html", run_context(session, user, run_id))


# ---------------------------------------------------------------------------- plan


def frontier_chart(session: Any, run: Any, currency: str) -> tuple[str | None, Any]:
    """The run's cost-against-lateness frontier (``app.scenarios.service``), once it has points."""
    frontier = scenarios_service.frontier(session, run)
    points = [
        charts.Point(
            float(p.late_unit_days),
            float(p.money_cost),
            f"{p.late_penalty_rate:g}",
        )
        for p in frontier.points
        if p.money_cost is not None and p.late_unit_days is not None
    ]
    if not points:
        return None, frontier
    svg = charts.line_chart(
        points,
        title="Cost against lateness: the plan solved with a range of lateness weights",
        x_label="late unit-days",
        y_label=f"money cost ({currency})",
        point_label="labels: the lateness weight (late penalty rate)",
    )
    return svg, frontier


def critical_unmet_cells(problem: Any, plan: Any) -> set[tuple[str, str, str]]:
    """(location, agency, item category) of every critical need the plan leaves unmet."""
    category = {i["id"]: i.get("category", "") for i in problem.get("items", [])}
    return {
        (u.location, u.agency, category.get(u.item, ""))
        for u in outputs.unmet_needs(problem, plan)
        if u.priority == "critical"
    }


def three_w_chart(
    session: Any, user: User, round_: Any, critical: set[tuple[str, str, str]]
) -> tuple[str, Any]:
    """The 3W matrix; ``critical``: the cells (location, agency, category) where a critical
    need is left unmet, drawn apart."""
    summary = three_w.three_w(session, user, round_)
    locations: dict[str, tuple[str, str]] = {}
    cells: dict[tuple[str, str], list[charts.MatrixCell]] = {}
    for row in summary.rows:
        # The region once: some names carry it already.
        named = row.region and f"({row.region})" in row.location_name
        label = row.location_name + (f" ({row.region})" if row.region and not named else "")
        locations[row.location_id] = (row.region or "", label)
        cells.setdefault((row.location_id, row.agency_id), []).append(
            charts.MatrixCell(
                row.item_category,
                row.quantity_needed,
                row.quantity_awarded,
                (row.location_id, row.agency_id, row.item_category) in critical,
            )
        )
    rows = [(lid, label) for lid, (_region, label) in sorted(locations.items(), key=lambda x: x[1])]
    columns = sorted({row.agency_id for row in summary.rows})
    svg = charts.matrix_chart(
        rows,
        columns,
        cells,
        title="Who needs what where: per location and agency, each category's need "
        "and the share the plan meets",
    )
    return svg, summary


def plan_context(session: Any, user: User, run_id: int, settings: Settings) -> dict[str, Any]:
    context = run_context(session, user, run_id)
    run, read = context["run"], context["read"]
    context["zone"] = group_zone(settings)
    context["lead_times"] = learning.plan_lead_times(session, run.round_id)
    if read.plan is None:
        return context
    problem, plan = read.problem, read.plan
    statements = outputs.cost_statements(problem, plan)
    context["statements"] = statements
    context["unmet"] = outputs.unmet_needs(problem, plan)
    context["late"] = outputs.late_awards(problem, plan)
    context["currency"] = problem.get("currency", "")
    names = document_names(problem)
    context |= names
    every_name = {**names["item_names"], **names["location_names"], **names["supplier_names"]}
    context["why"] = {u.need: name_codes(u.detail, every_name) for u in context["unmet"]}
    context["share"] = _share(statements, context, user.agency_id)
    if context["viewer"].full:
        context["orders"] = deliveries_service.numbered_orders(session, run, problem, plan)
        context["baseline"] = plan.get("baseline") or {}
        context["plan"] = plan
        critical = critical_unmet_cells(problem, plan)
        svg, summary = three_w_chart(session, user, run.round, critical)
        context["critical_cells"] = critical
        context["three_w_svg"] = page_markup(svg)
        context["three_w"] = summary
        frontier_svg, frontier = frontier_chart(session, run, context["currency"])
        context["frontier"] = frontier
        if frontier_svg is not None:
            context["frontier_svg"] = page_markup(frontier_svg)
    context["savings_svg"] = page_markup(
        charts.bar_chart(
            [charts.Bar(s.agency, s.savings, percent(s.savings_pct)) for s in statements],
            title="What pooling saves each agency against buying alone",
            unit=context["currency"],
            fmt=lambda v: money(v),
        )
    )
    checked = plan.get("fairness") is not None and context["viewer"].full
    context |= sourcing_context(
        problem,
        plan,
        full=context["viewer"].full,
        agency=user.agency_id,
        coalition_values=run_coalitions.stored_objectives(session, run.id) if checked else None,
    )
    context |= _decision_context(user, run, read)
    return context


def _share(
    statements: list[Any], context: dict[str, Any], agency: str | None
) -> dict[str, Any] | None:
    """The reader's own agency's part of the plan, which its chief decides on: its costs and
    savings, its late awards and its unmet needs (None for a reader of no agency in the plan)."""
    statement = next((s for s in statements if s.agency == agency), None)
    if statement is None:
        return None
    return {
        "statement": statement,
        "late": [a for a in context["late"] if a.agency == agency],
        "unmet": [u for u in context["unmet"] if u.agency == agency],
    }


def _decision_context(user: User, run: Any, read: RunRead) -> dict[str, Any]:
    """Whether to offer this user the decision form; the service decides what counts."""
    agency = user.agency_id
    decisions = {a.agency_id: a for a in run.approvals}
    with_needs = outputs.agencies_with_needs(run.problem)
    offer = (
        user.has_role(Role.chief_of_mission)
        and agency is not None
        and agency in with_needs
        and agency not in decisions
        and run.round.status == RoundStatus.optimised
        and run.status == RunStatus.succeeded
    )
    return {
        "decisions": decisions,
        "own_decision": decisions.get(agency) if agency else None,
        "offer_decision": offer,
        "four_eyes": run.triggered_by_id == user.id,
    }


@router.get("/runs/{run_id}/plan")
def plan_page(
    run_id: IdPath, request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    return render(request, settings, "plan.html", plan_context(session, user, run_id, settings))


@router.post("/runs/{run_id}/decision")
def decide(
    run_id: IdPath,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    require_roles(Role.chief_of_mission)(user)
    values = {"decision": text(form, "decision"), "reason": text(form, "reason")}
    try:
        body = ApprovalCreate.model_validate(
            {"decision": values["decision"], "reason": values["reason"] or None}
        )
    except ValidationError as exc:
        issues = [
            FieldIssue(i.path if i.path != "$" else "$.reason", i.reason)
            for i in field_issues(exc.errors(include_url=False))
        ]
        context = plan_context(session, user, run_id, settings)
        context |= {"decision_values": values, "errors": field_errors(issues)}
        return render(request, settings, "plan.html", context, status_code=422)
    approval = flows.decide(session, user, run_id, body)
    said = "approved" if approval.decision == Decision.approved else "rejected"
    return redirect(
        f"/runs/{run_id}/plan#approval",
        settings,
        f"You {said} {approval.agency_id}'s share of run #{approval.run.number}.",
    )
