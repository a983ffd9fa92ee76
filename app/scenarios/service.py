"""Scenarios of a run and its cost-versus-lateness frontier.

A scenario solves the run's frozen problem again with other settings (cost
only, lateness weighed ten times more, orders processed faster, ...), as a job
of its own, so many solve in parallel on every worker. The frontier is a set
of scenarios that differ only in ``late_penalty_rate``: each point's money cost
against its late unit-days shows what buying faster costs.

Who: a coordinator creates them; whoever sees the run in full reads them (their
figures are pooled totals, like the run's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.api import Idempotency
from app.audit import record, snapshot
from app.auth.models import User
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import dispatch
from app.jobs import service as jobs_service
from app.jobs.backends import JobBackend
from app.jobs.models import Job, JobKind, JobState
from app.runs import visibility
from app.runs.models import Run
from app.runs.snapshot import resolve_settings
from app.scenarios.models import Scenario, ScenarioKind
from app.scenarios.schemas import (
    FrontierCreate,
    FrontierPoint,
    FrontierRead,
    ScenarioCreate,
    ScenarioRead,
    ScenarioSummary,
)
from app.settings import Settings
from app.sourcing import whatif

API_PREFIX = "/api/v1"


def scenario_url(scenario: Scenario) -> str:
    return f"{API_PREFIX}/scenarios/{scenario.id}"


def frontier_url(run_id: int) -> str:
    return f"{API_PREFIX}/runs/{run_id}/frontier"


# ------------------------------------------------------------------------ reading


def visible_run(session: Session, user: User, run_id: int) -> Run:
    """The run, if ``user`` sees it in full: 404 hidden, 403 seen only in part."""
    visible = visibility.get_run(session, user, run_id)
    visibility.require_full_view(visible, "scenarios and the frontier")
    return visible.run


def get(session: Session, user: User, scenario_id: int) -> Scenario:
    scenario = session.get(Scenario, scenario_id, populate_existing=True)
    if scenario is None:
        raise NotFound(f"scenario {scenario_id}")
    try:
        visible_run(session, user, scenario.run_id)
    except NotFound:
        raise NotFound(f"scenario {scenario_id}") from None
    return scenario


def scenarios_query(
    run_id: int, *, kind: ScenarioKind | None = None, state: JobState | None = None
) -> sa.Select[Any]:
    stmt = (
        sa.select(Scenario)
        .join(Job, Job.scenario_id == Scenario.id)
        .where(Scenario.run_id == run_id)
        .order_by(Scenario.id)
    )
    if kind is not None:
        stmt = stmt.where(Scenario.kind == kind)
    if state is not None:
        stmt = stmt.where(Job.state == state)
    return stmt


def summary(scenario: Scenario) -> ScenarioSummary:
    return ScenarioSummary.model_validate(scenario)


def read(scenario: Scenario) -> ScenarioRead:
    return ScenarioRead.model_validate(scenario)


def frontier(session: Session, run: Run) -> FrontierRead:
    rows = session.scalars(
        scenarios_query(run.id, kind=ScenarioKind.frontier).execution_options(
            populate_existing=True
        )
    ).all()
    solved = [
        (float(s.money_cost), int(s.late_unit_days))
        for s in rows
        if s.job.state == JobState.succeeded
        and s.money_cost is not None
        and s.late_unit_days is not None
    ]

    def efficient(s: Scenario) -> bool | None:
        if s.job.state != JobState.succeeded or s.money_cost is None or s.late_unit_days is None:
            return None
        cost, late = float(s.money_cost), int(s.late_unit_days)
        return not any(c <= cost and d <= late and (c < cost or d < late) for c, d in solved)

    points = [
        FrontierPoint(
            late_penalty_rate=s.late_penalty_rate,
            scenario_id=s.id,
            state=s.job.state,
            money_cost=float(s.money_cost) if s.money_cost is not None else None,
            late_unit_days=s.late_unit_days,
            unmet_units=s.unmet_units,
            objective=s.objective,
            plan_status=s.plan_status,
            relative_gap=s.relative_gap,
            efficient=efficient(s),
        )
        for s in sorted(rows, key=lambda s: s.late_penalty_rate)
    ]
    return FrontierRead(
        run_id=run.id,
        currency=str(run.problem.get("currency", "")),
        complete=all(p.state not in jobs_service.IN_PROGRESS for p in points),
        points=points,
    )


# ----------------------------------------------------------------------- creating


def audit_state(scenario: Scenario) -> dict[str, Any]:
    return snapshot(scenario, exclude=("plan",))


def _check_room(session: Session, run: Run, adding: int, settings: Settings) -> None:
    existing = session.scalar(
        sa.select(sa.func.count()).select_from(Scenario).where(Scenario.run_id == run.id)
    )
    if int(existing or 0) + adding > settings.jobs_max_scenarios_per_run:
        raise Conflict(
            f"run {run.id} has {existing} scenarios; at most "
            f"{settings.jobs_max_scenarios_per_run} per run"
        )


def _add(
    session: Session,
    actor: User,
    run: Run,
    *,
    kind: ScenarioKind,
    name: str,
    overrides: dict[str, Any],
    settings: dict[str, Any],
) -> tuple[Scenario, Job]:
    scenario = Scenario(
        run_id=run.id,
        kind=kind,
        name=name,
        overrides=overrides,
        settings=settings,
        late_penalty_rate=float(settings["late_penalty_rate"]),
        created_by_id=actor.id,
    )
    session.add(scenario)
    session.flush()
    record(session, actor, "scenario.create", "scenario", scenario.id, None, audit_state(scenario))
    job = jobs_service.create(
        session,
        actor,
        JobKind.scenario,
        run_id=run.id,
        scenario_id=scenario.id,
        time_limit_seconds=float(settings["time_limit_seconds"]),
    )
    return scenario, job


def create(
    session: Session,
    actor: User,
    run_id: int,
    body: ScenarioCreate,
    *,
    settings: Settings,
    backend: JobBackend | None,
    idem: Idempotency | None = None,
) -> Scenario:
    """Queue a scenario of a run (any run its coordinator sees; the problem is frozen)."""
    try:
        run = visible_run(session, actor, run_id)
        _check_room(session, run, 1, settings)
        asked = body.settings.model_dump(exclude_none=True) if body.settings else {}
        changes = whatif.issues(run.problem, body.sourcing, "$.sourcing") if body.sourcing else []
        try:
            resolved = resolve_settings(
                run.problem.get("settings"),
                asked,
                max_time_limit_seconds=settings.max_solve_seconds,
            )
        except InvalidInput as exc:
            raise InvalidInput([*exc.errors, *changes]) from None
        if changes:
            raise InvalidInput(changes)
        if body.late_penalty_factor is not None:
            resolved["late_penalty_rate"] = resolved["late_penalty_rate"] * body.late_penalty_factor
        overrides = body.model_dump(mode="json", exclude_none=True, exclude={"name"})
        scenario, job = _add(
            session,
            actor,
            run,
            kind=ScenarioKind.scenario,
            name=body.name,
            overrides=overrides,
            settings=resolved,
        )
        if idem is not None:
            idem.save(201, read(scenario), row=scenario, location=scenario_url(scenario))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    dispatch.start(session, [job.id], backend=backend, settings=settings)
    return scenario


def create_frontier(
    session: Session,
    actor: User,
    run_id: int,
    body: FrontierCreate,
    *,
    settings: Settings,
    backend: JobBackend | None,
    idem: Idempotency | None = None,
) -> Run:
    """Queue one frontier point per lateness weight the run does not have yet."""
    try:
        run = visible_run(session, actor, run_id)
        have = set(
            session.scalars(
                sa.select(Scenario.late_penalty_rate).where(
                    Scenario.run_id == run.id, Scenario.kind == ScenarioKind.frontier
                )
            )
        )
        rates = [r for r in body.late_penalty_rates if float(r) not in have]
        _check_room(session, run, len(rates), settings)
        jobs: list[int] = []
        for rate in rates:
            resolved = resolve_settings(
                run.problem.get("settings"),
                {"late_penalty_rate": rate},
                max_time_limit_seconds=settings.max_solve_seconds,
            )
            _, job = _add(
                session,
                actor,
                run,
                kind=ScenarioKind.frontier,
                name=f"late penalty rate {rate:g}",
                overrides={"late_penalty_rate": rate},
                settings=resolved,
            )
            jobs.append(job.id)
        if idem is not None:
            idem.save(201, frontier(session, run), location=frontier_url(run.id))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    dispatch.start(session, jobs, backend=backend, settings=settings)
    return run


def cancel(session: Session, actor: User, scenario_id: int) -> Scenario:
    scenario = get(session, actor, scenario_id)
    jobs_service.request_cancel(session, actor, scenario.job.id)
    return get(session, actor, scenario_id)


def job_ids(scenarios: Sequence[Scenario]) -> list[int]:
    return [s.job.id for s in scenarios]


def remember_answer(
    session: Session,
    idem: Idempotency | None,
    body: Any,
    *,
    row: Any = None,
    location: str | None = None,
) -> None:
    """Replace an idempotent POST's stored 201 with what the request finally answers; commits.

    The response was stored when the job was created (so a retry during the
    solve is a replay, not a second create); the request may then have read
    the scenario again, and a retry must get what was answered.
    """
    if idem is None or idem.key is None:
        return
    idem.replace(body, row=row, location=location)
    session.commit()
