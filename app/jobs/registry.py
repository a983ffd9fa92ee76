"""What the queue calls: one handler per job kind, and the sweeper's periodic tasks.

The queue (``app.jobs``) claims, leases, heartbeats, retries and completes jobs;
it does not know what a job solves. Each domain gives it a ``JobHandler`` for
its kind when its module is imported (``app.runs.jobs`` for a round's run,
``app.scenarios.jobs`` for a scenario) and ``app.bootstrap`` imports them at
start-up, as Dramatiq's actors are declared on a broker that never imports
them. A process the service spawns to solve (the embedded pool) is given the
names of those modules and imports them first (``modules``, ``load``).

A kind with no handler is refused loudly (``handler_for``), never guessed.

Two optional hooks, for a job that fans out into further jobs (a run whose
coalitions are jobs of their own): ``solve_in_context`` is called instead of
``solve`` with a ``JobContext`` (sessions on the job's database, a way to run
another job here and to hand new jobs over), and ``solves(problem)`` says how
many solves the job holds (its overrun allowance).

How a job ended travels as one ``JobOutcome``. The queue tells it to ``finished``
spelled out (state, plan, error, progress, the caller's hook), and that signature
is written once, here: a handler subclasses ``JobHandler`` and implements
``store(session, job, outcome)``, which the protocol's own ``finished`` calls.
``started`` and ``requeued`` do nothing unless a handler says otherwise.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from app.auth.models import User
    from app.jobs.models import Job, JobState
    from app.settings import Settings
    from solver import SolveProgress
    from solver.highs import CancelToken


@dataclass(frozen=True)
class JobContext:
    """What a job's solve may use of the queue, when its handler asks for it."""

    job_id: int
    run_id: int
    attempt: int
    settings: Settings
    # A session on the job's database (a new one, or the inline caller's own).
    sessions: Callable[[], AbstractContextManager[Session]]
    # Claim, solve and complete another job in this thread; what became of it.
    run_here: Callable[[int], str]
    # Hand committed, queued jobs over to the other workers (a no-op where they are
    # found by the sweeper, or solved here).
    hand_over: Callable[[list[int]], None]


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended, as its handler's ``store`` is told it."""

    state: JobState
    # None when the job was cancelled, or ended with no plan.
    plan: dict[str, Any] | None
    error: str | None
    progress: dict[str, Any]
    # The inline caller's hook, given what the handler stored (a run, a scenario).
    on_finished: Callable[[Any], None] | None = None


class JobHandler(Protocol):
    """What one kind of job does around the queue's claim, solve and completion.

    Handlers subclass it (see the module docstring): ``finished`` is the queue's
    call and is implemented here; ``store`` is the handler's.
    """

    def problem(self, session: Session, job: Job) -> dict[str, Any]:
        """The document the job solves."""

    def solve(
        self,
        problem: dict[str, Any],
        *,
        time_limit_seconds: float,
        settings: Settings,
        progress: Callable[[SolveProgress], None] | None,
        cancel: CancelToken | None,
    ) -> dict[str, Any]:
        """The plan (raises as ``solver.solve``: ProblemInvalid, SolveCancelled)."""

    def started(self, session: Session, job: Job, attempt: int) -> None:
        """The job was just claimed (in the claim's transaction; no commit). Nothing by default."""
        return None

    def requeued(self, session: Session, job: Job) -> None:
        """A running job was handed back to the queue (no commit). Nothing by default."""
        return None

    def finished(
        self,
        session: Session,
        job: Job,
        plan: dict[str, Any] | None,
        error: str | None,
        progress: dict[str, Any],
        *,
        state: JobState,
        on_finished: Callable[[Any], None] | None = None,
    ) -> None:
        """The job ended ``state`` (in the completing transaction, after the job's own
        conditional update; no commit): ``store`` is given it as one ``JobOutcome``."""
        self.store(session, job, JobOutcome(state, plan, error, progress, on_finished))

    def store(self, session: Session, job: Job, outcome: JobOutcome) -> None:
        """Store the plan, or why there is none (no commit)."""

    def check_visible(self, session: Session, user: User, job: Job) -> None:
        """Raise NotFound (hidden) or Forbidden (seen in part) unless ``user`` may read it."""


@dataclass(frozen=True)
class SweepOutcome:
    """What a periodic task did: the things it fired (e.g. rounds) and the jobs it queued."""

    fired: list[int] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)


# A periodic task of the sweeper: (session, settings, fired_by, now) -> what it did; commits.
SweepTask = Callable[[Session, "Settings", str, dt.datetime | None], SweepOutcome]

_handlers: dict[str, JobHandler] = {}
_tasks: dict[str, SweepTask] = {}
_modules: set[str] = set()


class NoHandler(LookupError):
    pass


def register(kind: str, handler: JobHandler) -> None:
    """Give the queue the handler of ``kind`` (idempotent: a module imported twice is fine)."""
    _handlers[str(kind)] = handler
    _modules.add(type(handler).__module__)


def register_sweep_task(name: str, task: SweepTask) -> None:
    """A task every sweeper pass runs, under the sweeper's lease, before re-dispatching."""
    _tasks[name] = task
    _modules.add(task.__module__)


def handler_for(kind: str) -> JobHandler:
    try:
        return _handlers[str(kind)]
    except KeyError:
        raise NoHandler(
            f"no handler for jobs of kind {kind!r}: import app.bootstrap (or the module "
            "that registers it) before solving jobs"
        ) from None


def sweep_tasks() -> list[SweepTask]:
    return [_tasks[name] for name in sorted(_tasks)]


def modules() -> list[str]:
    """The modules that registered handlers or tasks, for a fresh process to import."""
    return sorted(_modules)


def load(names: Iterable[str]) -> None:
    """Import ``names`` (see ``modules``): their handlers register themselves."""
    for name in names:
        importlib.import_module(name)
