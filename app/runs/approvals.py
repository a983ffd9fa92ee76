"""Chiefs of mission deciding on a run: approve or reject their agency's share.

Decisions are taken on the round's latest run only, once it succeeded and
while the round is ``optimised``. The chief of mission of any agency with needs
in the run may decide for that agency (never on a run they triggered: four
eyes); the run becomes binding when every agency with awards has approved
(every agency with needs, when nothing was awarded). One rejection rejects the
round; a coordinator may then re-run it (``app.rounds.flows.rerun``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api import Idempotency
from app.audit import record, snapshot
from app.auth.models import User
from app.db import utcnow
from app.errors import Conflict, Forbidden
from app.rounds.models import Round, RoundStatus
from app.rounds.service import lock_round, transition
from app.runs import outputs, service, visibility
from app.runs.models import Approval, Decision, Run, RunStatus
from app.runs.schemas import ApprovalCreate, ApprovalRead

API_PREFIX = "/api/v1"


def approval_url(approval: Approval) -> str:
    return f"{API_PREFIX}/runs/{approval.run_id}/approvals/{approval.agency_id}"


def decide(
    session: Session,
    chief: User,
    run_id: int,
    body: ApprovalCreate,
    *,
    idem: Idempotency | None = None,
) -> Approval:
    """Record a chief of mission's decision for their own agency on a run.

    The round is locked, so two agencies' last approvals cannot both miss
    that the run is now approved, nor both make it binding.
    """
    try:
        visible = visibility.get_run(session, chief, run_id)
        round_ = lock_round(session, visible.run.round_id)
        run = service.lock_run(session, run_id)
        agency = chief.agency_id
        if agency is None:
            raise Forbidden("you act for no agency, so there is no share for you to approve")
        if run.triggered_by_id == chief.id:
            raise Forbidden(
                "four-eyes rule: you triggered this run, so someone else must decide on it"
            )
        if agency not in outputs.agencies_with_needs(run.problem):
            raise Forbidden(f"{agency} has no needs in run {run_id}: it has nothing to approve")
        _check_open_for_decisions(session, round_, run)
        if any(a.agency_id == agency for a in run.approvals):
            raise Conflict(f"{agency} already decided on run {run_id}; a decision is final")

        approval = Approval(
            run_id=run.id,
            agency_id=agency,
            user_id=chief.id,
            decision=body.decision,
            reason=body.reason,
            created_at=utcnow(),
        )
        try:
            # A concurrent decision of the same agency loses on the unique key.
            with session.begin_nested():
                session.add(approval)
        except IntegrityError as exc:
            raise Conflict(f"{agency} already decided on run {run_id}") from exc
        session.expire(run, ["approvals"])  # reloaded with the new decision in it
        record(session, chief, "approval.create", "approval", approval.id, None, snapshot(approval))

        if body.decision == Decision.rejected:
            transition(session, round_, RoundStatus.rejected, chief)
        elif service.required_agencies(run) <= {
            a.agency_id for a in run.approvals if a.decision == Decision.approved
        }:
            before = service.audit_state(run)
            run.binding = True
            run.approved_at = utcnow()
            session.flush()
            record(session, chief, "run.bind", "run", run.id, before, service.audit_state(run))
            transition(session, round_, RoundStatus.approved, chief)
        if idem is not None:
            idem.save(201, ApprovalRead.model_validate(approval), location=approval_url(approval))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return approval


def _check_open_for_decisions(session: Session, round_: Round, run: Run) -> None:
    if run.binding or round_.status == RoundStatus.approved:
        raise Conflict(f"round {round_.id} is approved: its binding run is final")
    latest = session.scalar(sa.select(sa.func.max(Run.number)).where(Run.round_id == round_.id))
    if run.number != latest:
        raise Conflict(
            f"run #{run.number} was superseded by run #{latest}; decide on the latest run"
        )
    if run.status != RunStatus.succeeded:
        raise Conflict(f"run {run.id} is {run.status.value}: there is no plan to decide on")
    if round_.status != RoundStatus.optimised:
        raise Conflict(
            f"round {round_.id} is {round_.status.value}: decisions are taken while it is "
            "optimised (after a rejection, a coordinator re-runs it)"
        )
