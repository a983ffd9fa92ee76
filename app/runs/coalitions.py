"""A run's coalition values as jobs: fairness checked on every worker, stored once.

With fairness asked for (a round's default), the run's job (``app.runs.jobs``)
solves the pooled plan and each agency's stand-alone baseline as ever, then
fans out the other coalitions the contract names (``solver.coalitions``):

1. **fan out** (``fan_out``, one transaction): a ``coalition_value`` row per
   coalition the contract names. The singles are stored at once (the run's job
   just solved them); a coalition whose sub-problem hash equals one an earlier
   run of the round stored is ``reused``; the rest are ``pending``, in batches,
   each batch a job of kind ``coalitions`` handed to the other workers (the
   broker), or found by the service's sweeper (the embedded pool);
2. **solve** (``CoalitionJobs``): a batch job solves its pending coalitions with
   the solver's own pure functions (independent parts, ``coalition_value``,
   ``CoalitionValue.combine``), with no transaction open, and stores them in
   the transaction that completes the job: a row moves ``pending -> done``
   once (the job's conditional completion, then the row's own condition), so
   a batch delivered again after its worker was killed stores nothing twice.
   The run's progress reads "112 of 254 coalitions";
3. **wait, working** (``collect``): meanwhile the run's job runs queued batches
   itself, from the end of the queue while the other workers take them from its
   start, then waits for the last ones. Cancelling the run cancels its batches;
   a batch that failed fails the run;
4. **finish**: the fairness block and the plan are built from the stored
   values by the solver's functions (``solver.plan.build_plan``), so the plan
   equals ``solver.solve`` of the run's document.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.auth.models import User
from app.db import utcnow
from app.jobs import registry
from app.jobs import service as jobs_service
from app.jobs.models import FINISHED, Job, JobKind, JobState
from app.runs.models import CoalitionStatus, Run, StoredCoalition
from app.settings import Settings
from app.solve.service import effective_time_limit
from solver import SolveProgress
from solver.coalitions import (
    Coalition,
    CoalitionValue,
    coalition_problem,
    coalition_value,
    plan_parts,
)
from solver.highs import PlanStatus, SolveCancelled
from solver.problem import Problem
from solver.validation import validate, with_settings

if TYPE_CHECKING:
    from solver.highs import CancelToken

log = logging.getLogger("poolbuy.runs")

# Batches per run at least (so every worker finds some), and coalitions per batch at most.
MIN_BATCHES = 16
MAX_BATCH = 32
# How often the run's job looks at its batches while others solve them.
POLL_SECONDS = 0.2


class CoalitionsFailed(RuntimeError):
    """A batch of the run's coalitions failed (or was cancelled by someone else)."""


# --------------------------------------------------------------- keys and values


def coalition_key(members: Sequence[str]) -> str:
    """The coalition's agency ids, sorted, as a JSON list (the table's key)."""
    return json.dumps(sorted(members), separators=(",", ":"))


def value_document(value: CoalitionValue) -> dict[str, Any]:
    """A coalition's value as JSON, exactly: money in Decimal strings."""
    return {
        "members": list(value.members),
        "objective": str(value.objective),
        "money_cost": str(value.money_cost),
        "unavoidable_penalty": str(value.unavoidable_penalty),
        "bound": value.bound,
        "status": value.status.value,
        "stopped_by": value.stopped_by,
        "seconds": value.seconds,
    }


def stored_objectives(session: Session, run_id: int) -> dict[Coalition, float]:
    """v(S) of every coalition the run stored a value for, by its members (sorted): what
    the plan page's chart of the worst coalitions ranks."""
    rows = session.scalars(
        sa.select(StoredCoalition).where(
            StoredCoalition.run_id == run_id, StoredCoalition.value.is_not(None)
        )
    )
    return {
        tuple(json.loads(row.coalition)): float(row.value["objective"])
        for row in rows
        if row.value is not None
    }


def value_of(members: Coalition, document: dict[str, Any]) -> CoalitionValue:
    """The stored value back, for ``members`` in the order the run checks them."""
    return CoalitionValue(
        members,
        Decimal(document["objective"]),
        Decimal(document["money_cost"]),
        Decimal(document["unavoidable_penalty"]),
        float(document["bound"]),
        PlanStatus(document["status"]),
        str(document["stopped_by"]),
        float(document["seconds"]),
    )


def sub_problem_hashes(problem: Problem, coalitions: Sequence[Coalition]) -> dict[Coalition, str]:
    """Each coalition's sub-problem hash (``coalition_problem``: the document with only
    its members' needs), made from a hash of everything else and one per need."""
    base = hashlib.sha256(problem.model_copy(update={"needs": ()}).model_dump_json().encode())
    needs = [
        (need.agency, hashlib.sha256(need.model_dump_json().encode()).digest())
        for need in problem.needs
    ]
    hashes = {}
    for coalition in coalitions:
        members = set(coalition)
        digest = base.copy()
        for agency, need_hash in needs:
            if agency in members:
                digest.update(need_hash)
        hashes[coalition] = digest.hexdigest()
    return hashes


def prepared(document: dict[str, Any], time_limit_seconds: float, settings: Settings) -> Problem:
    """The document as ``solver.solve`` sees it under the service's limits."""
    problem = validate(document)
    return with_settings(
        problem,
        time_limit_seconds=effective_time_limit(time_limit_seconds, settings.max_solve_seconds),
    )


# --------------------------------------------------------------------- 1. fan out


def batch_size(pending: int) -> int:
    return max(1, min(MAX_BATCH, math.ceil(pending / MIN_BATCHES)))


def fan_out(
    session: Session,
    run_id: int,
    problem: Problem,
    checked: Sequence[Coalition],
    singles: dict[Coalition, CoalitionValue],
    time_limit_seconds: float,
) -> list[int]:
    """Store the run's coalitions (singles done, reused ones copied, the rest pending in
    batch jobs) and commit; the batch jobs to hand over. A second attempt of the run's
    job finds them stored and adds nothing."""
    try:
        known = session.scalar(sa.select(sa.func.count()).where(StoredCoalition.run_id == run_id))
        if known:
            session.rollback()
            return []
        run = session.get_one(Run, run_id)
        actor = session.get_one(User, run.triggered_by_id)
        hashes = sub_problem_hashes(problem, checked)
        earlier = _earlier_values(session, run, set(hashes.values()))
        now = utcnow()
        rows: list[StoredCoalition] = []
        pending: list[StoredCoalition] = []
        for coalition in checked:
            row = StoredCoalition(
                run_id=run_id,
                coalition=coalition_key(coalition),
                size=len(coalition),
                sub_problem=hashes[coalition],
                status=CoalitionStatus.pending,
            )
            if coalition in singles:
                row.status, row.stored_at = CoalitionStatus.done, now
                row.value = value_document(singles[coalition])
            elif hashes[coalition] in earlier:
                row.status, row.stored_at = CoalitionStatus.reused, now
                row.value = {**earlier[hashes[coalition]], "members": list(coalition)}
            else:
                pending.append(row)
            rows.append(row)
        jobs: list[int] = []
        size = batch_size(len(pending))
        for start in range(0, len(pending), size):
            job = jobs_service.create(
                session,
                actor,
                JobKind.coalitions,
                run_id=run_id,
                time_limit_seconds=time_limit_seconds,
            )
            for row in pending[start : start + size]:
                row.job_id = job.id
            jobs.append(job.id)
        session.add_all(rows)
        session.flush()
        _set_run_progress(session, run_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    log.info(
        "run %s: %s coalitions, %s reused, %s to solve in %s batches",
        run_id,
        len(rows),
        sum(r.status == CoalitionStatus.reused for r in rows),
        len(pending),
        len(jobs),
    )
    return jobs


def _earlier_values(session: Session, run: Run, hashes: set[str]) -> dict[str, dict[str, Any]]:
    """Values other runs of the round stored, by sub-problem hash."""
    if not hashes:
        return {}
    found = session.execute(
        sa.select(StoredCoalition.sub_problem, StoredCoalition.value)
        .join(Run, Run.id == StoredCoalition.run_id)
        .where(
            Run.round_id == run.round_id,
            StoredCoalition.run_id != run.id,
            StoredCoalition.status.in_((CoalitionStatus.done, CoalitionStatus.reused)),
            StoredCoalition.sub_problem.in_(sorted(hashes)),
        )
    ).all()
    return {h: v for h, v in found if v is not None}


def counts(session: Session, run_id: int) -> tuple[int, int]:
    """(coalitions with a value, coalitions) of a run."""
    row = session.execute(
        sa.select(
            sa.func.count().filter(StoredCoalition.status != CoalitionStatus.pending),
            sa.func.count(),
        ).where(StoredCoalition.run_id == run_id)
    ).one()
    return int(row[0]), int(row[1])


def _set_run_progress(session: Session, run_id: int) -> None:
    completed, total = counts(session, run_id)
    progress = {
        "state": "running",
        "coalitions": {"completed": completed, "total": total, "done": completed == total},
    }
    session.execute(
        sa.update(Run)
        .where(Run.id == run_id, Run.status == "running")
        .values(progress=progress)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- 2. the batches


class CoalitionJobs(registry.JobHandler):
    """The handler of ``JobKind.coalitions``: one batch of a run's coalitions (its run
    is the run's job's: nothing to do when the batch starts or is handed back)."""

    def problem(self, session: Session, job: Job) -> dict[str, Any]:
        document: dict[str, Any] = session.get_one(Run, job.run_id).problem
        keys = session.scalars(
            sa.select(StoredCoalition.coalition)
            .where(
                StoredCoalition.job_id == job.id,
                StoredCoalition.status == CoalitionStatus.pending,
            )
            .order_by(StoredCoalition.id)
        ).all()
        coalitions = [json.loads(key) for key in keys]
        # ``agencies``: the queue allows a job one solve per entry (its overrun limit).
        return {"document": document, "coalitions": coalitions, "agencies": coalitions}

    def solves(self, problem: dict[str, Any]) -> int:
        return 1 + len(problem["coalitions"])

    def solve(
        self,
        problem: dict[str, Any],
        *,
        time_limit_seconds: float,
        settings: Settings,
        progress: Callable[[SolveProgress], None] | None,
        cancel: CancelToken | None,
    ) -> dict[str, Any]:
        values = solve_batch(
            prepared(problem["document"], time_limit_seconds, settings),
            [tuple(c) for c in problem["coalitions"]],
            cancel,
        )
        return {"status": "optimal", "values": [value_document(v) for v in values]}

    def store(self, session: Session, job: Job, outcome: registry.JobOutcome) -> None:
        if outcome.state != JobState.succeeded or outcome.plan is None:
            return  # the run's job sees the batch's state and ends the run
        store_values(session, job, outcome.plan["values"])

    def check_visible(self, session: Session, user: User, job: Job) -> None:
        from app.runs.jobs import check_job_visible

        check_job_visible(session, user, job)


def solve_batch(
    problem: Problem, coalitions: Sequence[Coalition], cancel: CancelToken | None
) -> list[CoalitionValue]:
    """The coalitions' values exactly as ``solver.solve`` makes them: each distinct
    independent part solved once, the parts combined."""
    parts, distinct = plan_parts(problem, coalitions)
    found: dict[tuple[int, Coalition], CoalitionValue] = {}
    for key, part in distinct.items():
        if cancel is not None and cancel.is_set():
            raise SolveCancelled("the batch of coalitions was cancelled")
        sub = coalition_problem(problem, part.members, part.needs)
        found[key] = coalition_value(sub, part.members, cancel)
    gap = problem.settings.relative_gap
    return [CoalitionValue.combine(c, [found[p.key] for p in parts[c]], gap) for c in coalitions]


def store_values(session: Session, job: Job, values: Sequence[dict[str, Any]]) -> int:
    """Store a batch's values, each only while still pending (no commit); how many."""
    now = utcnow()
    stored = 0
    for value in values:
        result = session.execute(
            sa.update(StoredCoalition)
            .where(
                StoredCoalition.run_id == job.run_id,
                StoredCoalition.coalition == coalition_key(value["members"]),
                StoredCoalition.status == CoalitionStatus.pending,
            )
            .values(status=CoalitionStatus.done, value=value, stored_at=now, job_id=job.id)
            .execution_options(synchronize_session=False)
        )
        stored += jobs_service.rows_changed(result)
    _set_run_progress(session, job.run_id)
    return stored


# ------------------------------------------------------------ 3. wait, working


def _batches(session: Session, run_id: int) -> list[tuple[int, JobState, str | None]]:
    """The run's batch jobs; a running one whose lease ran out (its worker was killed)
    counts as queued: the run's job takes it over rather than wait for its message,
    which the broker may hand back to this very worker, busy here."""
    now = utcnow()
    rows = session.execute(
        sa.select(Job.id, Job.state, Job.error, Job.lease_until)
        .where(Job.run_id == run_id, Job.kind == JobKind.coalitions)
        .order_by(Job.id)
    ).all()
    found = []
    for r in rows:
        lapsed = r.state == JobState.running and r.lease_until is not None and r.lease_until < now
        found.append((r.id, JobState.queued if lapsed else r.state, r.error))
    return found


def cancel_batches(session: Session, run_id: int, reason: str) -> None:
    """Stop the run's batches: queued ones at once, running ones at their next heartbeat.
    Commits."""
    try:
        for job_id, state, _error in _batches(session, run_id):
            if state == JobState.queued:
                jobs_service.settle(
                    session,
                    job_id,
                    sa.and_(Job.id == job_id, Job.state == JobState.queued),
                    JobState.cancelled,
                    reason,
                )
            # Running (a lapsed one is seen as queued): stopped at its next heartbeat, or
            # settled cancelled by whoever claims it next.
            if state in (JobState.queued, JobState.running):
                session.execute(
                    sa.update(Job)
                    .where(Job.id == job_id, Job.state == JobState.running)
                    .values(cancel_requested=True, updated_at=utcnow(), version=Job.version + 1)
                    .execution_options(synchronize_session=False)
                )
        session.commit()
    except BaseException:
        session.rollback()
        raise


def collect(
    context: registry.JobContext,
    checked: Sequence[Coalition],
    progress: Callable[[SolveProgress], None] | None,
    cancel: CancelToken | None,
) -> dict[Coalition, CoalitionValue]:
    """Run queued batches here, wait for the others, and return every stored value."""
    started = time.perf_counter()
    by_key = {coalition_key(c): c for c in checked}
    reported = -1
    while True:
        if cancel is not None and cancel.is_set():
            if getattr(cancel, "reason", None) == "cancel":
                with context.sessions() as session:
                    cancel_batches(session, context.run_id, "the run was cancelled")
            # Otherwise (a shutdown, a lost lease) the batches go on; the next attempt
            # of the run's job finds what they stored.
            raise SolveCancelled("the run's coalitions were cancelled")
        with context.sessions() as session:
            completed, total = counts(session, context.run_id)
            batches = _batches(session, context.run_id)
            session.rollback()
        if progress is not None and completed != reported:
            reported = completed
            progress(
                SolveProgress(
                    "coalitions",
                    None,
                    time.perf_counter() - started,
                    None,
                    None,
                    None,
                    done=completed == total,
                    completed=completed,
                    total=total,
                )
            )
        if completed == total:
            break
        ended = [(j, s, e) for j, s, e in batches if s in FINISHED and s != JobState.succeeded]
        if ended:
            job_id, state, error = ended[0]
            raise CoalitionsFailed(
                f"coalition batch job {job_id} {state.value}: {error or 'no reason given'}"
            )
        queued = [j for j, s, _e in batches if s == JobState.queued]
        if queued:
            # From the end: the other workers take the queue from its start.
            context.run_here(queued[-1])
        else:
            wait = getattr(cancel, "wait", None)
            if wait is not None:
                wait(POLL_SECONDS)  # a cancel wakes it at once
            else:
                time.sleep(POLL_SECONDS)
    with context.sessions() as session:
        rows = session.execute(
            sa.select(StoredCoalition.coalition, StoredCoalition.value).where(
                StoredCoalition.run_id == context.run_id
            )
        ).all()
        session.rollback()
    values = {}
    for key, value in rows:
        if key in by_key and value is not None:
            values[by_key[key]] = value_of(by_key[key], value)
    missing = [c for c in checked if c not in values]
    if missing:
        raise CoalitionsFailed(f"{len(missing)} coalitions have no stored value")
    return values


registry.register(JobKind.coalitions, CoalitionJobs())
