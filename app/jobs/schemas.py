"""Response bodies of the jobs routes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.jobs.models import JobKind, JobState

# ----------------------------------------------------------------------------- jobs

_JOB_EXAMPLE: dict[str, Any] = {
    "id": 12,
    "kind": "run",
    "run_id": 7,
    "scenario_id": None,
    "state": "running",
    "attempts": 1,
    "time_limit_seconds": 60.0,
    "cancel_requested": False,
    "worker": "worker-2:4121:77",
    "lease_until": "2026-12-01T14:00:32Z",
    "error": None,
    "created_at": "2026-12-01T14:00:00Z",
    "started_at": "2026-12-01T14:00:01Z",
    "finished_at": None,
}


class JobSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_JOB_EXAMPLE]})

    id: int
    kind: JobKind = Field(description="run: a round's run; scenario: a scenario or frontier point")
    run_id: int
    scenario_id: int | None
    state: JobState
    attempts: int = Field(description="workers that took it; 2 or more means one was lost")
    time_limit_seconds: float = Field(description="per solve (pooled and each stand-alone)")
    cancel_requested: bool
    worker: str | None = Field(description="host:process:thread holding (or that last held) it")
    lease_until: dt.datetime | None = Field(
        description="while running: when the job is taken from a worker that stopped beating"
    )
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class JobRead(JobSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_JOB_EXAMPLE,
                    "progress": {
                        "state": "running",
                        "attempt": 1,
                        "elapsed_seconds": 4.2,
                        "pooled": {
                            "seconds": 4.1,
                            "incumbent": 191520.4,
                            "bound": 190870.0,
                            "gap": 0.0034,
                            "done": False,
                        },
                        "standalone": {
                            "IOM": {
                                "seconds": 1.2,
                                "incumbent": 20512.0,
                                "bound": 20512.0,
                                "gap": 0.0,
                                "done": True,
                            }
                        },
                        "history": [
                            {
                                "seconds": 1.0,
                                "incumbent": 201340.0,
                                "bound": 185000.0,
                                "gap": 0.0811,
                            }
                        ],
                    },
                }
            ]
        }
    )

    progress: dict[str, Any] | None = Field(
        description="the solver's incumbent, bound and gap: latest of the pooled solve and of "
        "each agency's stand-alone baseline, and the pooled solve's history over time"
    )
