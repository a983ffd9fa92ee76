"""Dependencies of the jobs routes: the backend, the wait a client prefers, who may act."""

from __future__ import annotations

import math
import re
from typing import Annotated

from fastapi import Depends, Header, Path, Response

from app.api.params import DIGITS, MAX_ID
from app.auth.deps import CurrentUser, require_roles
from app.auth.models import Role, User
from app.db import SessionDep
from app.jobs import backends
from app.jobs import service as jobs_service
from app.jobs.models import Job
from app.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
Coordinator = Annotated[User, Depends(require_roles(Role.coordinator))]
JobManager = Annotated[User, Depends(require_roles(Role.coordinator, Role.admin))]


def get_job_backend(settings: SettingsDep) -> backends.JobBackend:
    """The configured backend (tests may override this dependency)."""
    return backends.get_backend(settings)


JobBackendDep = Annotated[backends.JobBackend, Depends(get_job_backend)]

_WAIT = re.compile(r"^\s*wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?\s*$", re.IGNORECASE)


def wait_preference(
    settings: SettingsDep,
    response: Response,
    prefer: Annotated[
        str | None,
        Header(
            alias="Prefer",
            description="RFC 7240: `wait=N` to wait up to N seconds for the solve (capped by "
            "the service), `respond-async` to answer at once with the job queued. Default: "
            "the service's wait",
            examples=["wait=30", "respond-async"],
        ),
    ] = None,
) -> float:
    """Seconds a run-creating POST waits for its solve before answering."""
    wait = settings.jobs_wait_seconds
    for token in (prefer or "").split(","):
        if token.strip().lower() == "respond-async":
            wait = 0.0
            response.headers["Preference-Applied"] = "respond-async"
        elif matched := _WAIT.match(token):
            asked = float(matched.group(1))
            if math.isfinite(asked):
                wait = min(asked, settings.jobs_max_wait_seconds)
                response.headers["Preference-Applied"] = f"wait={wait:g}"
    return wait


WaitDep = Annotated[float, Depends(wait_preference)]


def valid_job_id(
    job_id: Annotated[
        int, DIGITS, Path(ge=1, le=MAX_ID, description="the job's id", examples=[12])
    ],
    session: SessionDep,
    user: CurrentUser,
) -> Job:
    """The job, if the caller sees its run in full; 404 (hidden) or 403 (seen in part) else."""
    return jobs_service.get_visible(session, user, job_id)


VisibleJob = Annotated[Job, Depends(valid_job_id)]
