"""A scenario of a run: what was changed, how it stands (followed while it solves), and its
result beside the run's own plan: money cost, lateness, unmet units, each agency's cost,
the orders per supplier and the needs left unmet.

Whoever sees the run in full sees its scenarios (``app.scenarios.service.get``: 404 when the
run is hidden, 403 when only one agency's share of it is shown); the coordinator who
plans them may stop one still solving.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from app.api.params import MAX_ID
from app.auth.deps import require_roles
from app.auth.models import Role, User
from app.db import SessionDep
from app.errors import Conflict
from app.exchange.service import group_zone
from app.jobs import service as jobs_service
from app.runs import outputs
from app.runs.snapshot import resolve_settings
from app.scenarios import service as scenarios_service
from app.scenarios.models import Scenario
from app.settings import Settings
from app.web.deps import (
    NONE,
    CheckedForm,
    SettingsDep,
    WebRoute,
    WebUser,
    document_names,
    redirect,
    render,
)
from app.web.pages.runs import run_context

router = APIRouter(route_class=WebRoute, include_in_schema=False)

ScenarioId = Annotated[int, Path(ge=1, le=MAX_ID)]

# Contract-v1 settings as a person reads them.
SETTING_NAMES = {
    "late_penalty_rate": "Lateness weight (late penalty rate)",
    "order_processing_days": "Order processing days",
    "allocation": "Cost split",
    "priority_weights": "Priority weights",
    "time_limit_seconds": "Time limit (seconds)",
    "relative_gap": "Accepted gap",
    "unmet_penalty_factor": "Unmet penalty factor",
}


def _setting_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_setting_text(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return NONE if value is None else str(value)


def settings_changes(
    run_settings: dict[str, Any], scenario_settings: dict[str, Any]
) -> list[dict[str, str]]:
    """The settings the scenario solved with that differ from the run's."""
    rows = []
    for key in sorted(set(run_settings) | set(scenario_settings)):
        before, after = run_settings.get(key), scenario_settings.get(key)
        if before != after:
            rows.append(
                {
                    "name": SETTING_NAMES.get(key, key.replace("_", " ")),
                    "run": _setting_text(before),
                    "scenario": _setting_text(after),
                }
            )
    return rows


def _figure(plan: dict[str, Any] | None, key: str) -> float | None:
    value = (plan or {}).get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def comparison(
    run_plan: dict[str, Any] | None, plan: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The run's figures and the scenario's, side by side, with the difference."""
    rows = []
    for key, name, kind in (
        ("money_cost", "Money cost", "money"),
        ("late_unit_days", "Late unit-days", "number"),
        ("unmet_units", "Unmet units", "number"),
        ("objective", "Objective", "money"),
    ):
        before, after = _figure(run_plan, key), _figure(plan, key)
        change = after - before if before is not None and after is not None else None
        rows.append(
            {
                "key": key,
                "name": name,
                "kind": kind,
                "run": before,
                "scenario": after,
                "change": change,
            }
        )
    return rows


def agency_costs(
    problem: dict[str, Any], run_plan: dict[str, Any] | None, plan: dict[str, Any]
) -> list[dict[str, Any]]:
    before = {s.agency: s for s in outputs.cost_statements(problem, run_plan)} if run_plan else {}
    rows = []
    for statement in outputs.cost_statements(problem, plan):
        old = before.get(statement.agency)
        rows.append(
            {
                "statement": statement,
                "run_allocated": old.allocated_cost if old is not None else None,
                "change": statement.allocated_cost - old.allocated_cost
                if old is not None
                else None,
            }
        )
    return rows


def scenario_context(
    session: Any, user: User, scenario: Scenario, settings: Settings
) -> dict[str, Any]:
    context = run_context(session, user, scenario.run_id)
    run, read = context["run"], context["read"]
    summary = scenarios_service.read(scenario)
    run_settings = resolve_settings(
        run.problem.get("settings"), None, max_time_limit_seconds=settings.max_solve_seconds
    )
    context |= {
        "scenario": summary,
        "created_by": scenario.created_by,
        "zone": group_zone(settings),
        "busy": summary.state in jobs_service.IN_PROGRESS,
        "changes": settings_changes(run_settings, summary.settings),
        "figures": comparison(read.plan, summary.plan),
        "currency": run.problem.get("currency", ""),
        "may_cancel": user.has_role(Role.coordinator),
    }
    if summary.plan is not None:
        problem = run.problem
        context["agency_costs"] = agency_costs(problem, read.plan, summary.plan)
        context["orders"] = outputs.purchase_orders(problem, summary.plan)
        run_orders = outputs.purchase_orders(problem, read.plan) if read.plan else []
        context["run_order_totals"] = {o.supplier: o.total_cost for o in run_orders}
        context["unmet"] = outputs.unmet_needs(problem, summary.plan)
        context |= document_names(problem)
    return context


@router.get("/scenarios/{scenario_id}")
def scenario_page(
    scenario_id: ScenarioId,
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    scenario = scenarios_service.get(session, user, scenario_id)
    context = scenario_context(session, user, scenario, settings)
    return render(request, settings, "scenario.html", context)


@router.post("/scenarios/{scenario_id}/cancel")
def cancel_scenario(
    scenario_id: ScenarioId,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    """Stop a scenario still solving (the coordinator's, as on the API)."""
    require_roles(Role.coordinator)(user)
    url = f"/scenarios/{scenario_id}"
    try:
        scenario = scenarios_service.cancel(session, user, scenario_id)
    except Conflict:
        # It ended meanwhile: the page shows how.
        return redirect(url, settings, "This scenario had already finished.", "warn")
    stopping = "is being stopped" if scenario.state in jobs_service.IN_PROGRESS else "is cancelled"
    return redirect(url, settings, f"Scenario “{scenario.name}” {stopping}.")
