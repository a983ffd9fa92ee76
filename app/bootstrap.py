"""Start-up wiring: the domains give the job queue their handlers and periodic tasks.

``app.jobs`` imports no domain (cosmicpython's bootstrap, Dramatiq's actors): a
domain module registers its job kind with ``app.jobs.registry`` when imported,
and every entry point (the API, ``poolbuy`` and its worker, scripts) calls
``register_all`` first. A process the embedded backend spawns imports the same
modules by name (``app.jobs.registry.modules``).
"""

from __future__ import annotations


def register_all() -> None:
    """Import the modules that register job kinds and sweep tasks (idempotent)."""
    import app.rounds.flows  # the sweeper's task: round schedules
    import app.runs.jobs  # JobKind.run
    import app.scenarios.jobs  # noqa: F401  JobKind.scenario
