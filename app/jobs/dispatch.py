"""Handing committed jobs over: to the configured backend, or solved here and now.

A job can only be handed to another process once its transaction really
committed. A session bound to a connection its caller owns (a test's outer
transaction, a script's unit of work) may never commit for real, so its jobs
are solved in that same session, in the calling thread. So are the jobs of a
caller that gives no backend (scripts, ``poolbuy demo``, direct service calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.settings import Settings

if TYPE_CHECKING:
    from app.jobs.backends import JobBackend


def runs_inline(session: Session, backend: JobBackend | None) -> bool:
    return backend is None or isinstance(session.get_bind(), sa.Connection)


def database_url(session: Session) -> str:
    """The URL of the database ``session`` writes to, for a worker to write to the same."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, sa.Connection) else bind
    return engine.url.render_as_string(hide_password=False)


def start(
    session: Session,
    job_ids: Sequence[int],
    *,
    backend: JobBackend | None,
    settings: Settings,
    on_finished: Callable[[Any], None] | None = None,
) -> None:
    """Solve ``job_ids`` here (see the module docstring) or hand them to ``backend``."""
    if runs_inline(session, backend):
        from app.jobs import runner

        for job_id in job_ids:
            runner.run_inline(session, job_id, settings, on_finished)
        return
    assert backend is not None
    backend.dispatch(list(job_ids), database_url(session))
