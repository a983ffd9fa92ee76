"""The solver's progress as a job records it: the latest figures and their history.

The solver reports from several threads (the pooled solve and each agency's
stand-alone baseline). The pooled solve's incumbent, bound and gap are kept
over time (``history``), thinned when long so the document stays small; the
baselines keep their latest report each, and a fairness run its count of
coalitions solved ("coalitions": completed of total).
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from solver import SolveProgress

# Points kept in the history; beyond it every other point is dropped (first and last kept).
MAX_HISTORY = 240


def _entry(report: SolveProgress, elapsed: float) -> dict[str, Any]:
    return {
        "seconds": round(elapsed, 3),
        "stage_seconds": round(report.seconds, 3),
        "incumbent": report.objective,
        "bound": report.bound,
        "gap": report.gap,
        "done": report.done,
    }


class ProgressRecorder:
    """A progress callback for ``solver.solve`` that keeps a JSON document of the solve."""

    def __init__(self, *, attempt: int = 1) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._changed = False
        self._state: dict[str, Any] = {
            "state": "running",
            "attempt": attempt,
            "pooled": None,
            "standalone": {},
            "history": [],
        }

    def __call__(self, report: SolveProgress) -> None:
        entry = _entry(report, time.monotonic() - self._started)
        with self._lock:
            if report.stage == "pooled":
                self._state["pooled"] = entry
                history: list[dict[str, Any]] = self._state["history"]
                history.append(entry)
                if len(history) > MAX_HISTORY:
                    self._state["history"] = [*history[:-1:2], history[-1]]
            elif report.stage == "coalitions":
                # Fairness asked for: how many coalitions have their value so far.
                self._state["coalitions"] = {
                    "completed": report.completed,
                    "total": report.total,
                    "done": report.done,
                }
            else:
                self._state["standalone"][report.agency or ""] = entry
            self._changed = True

    def snapshot(self, state: str | None = None) -> dict[str, Any]:
        """A copy of the document (with ``state`` replaced when given)."""
        with self._lock:
            document = copy.deepcopy(self._state)
            self._changed = False
        document["elapsed_seconds"] = round(time.monotonic() - self._started, 3)
        if state is not None:
            document["state"] = state
        return document

    @property
    def changed(self) -> bool:
        with self._lock:
            return self._changed


def own_share(progress: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a reader who may not see pooled totals sees of a progress document: its state."""
    if progress is None:
        return None
    return {k: progress[k] for k in ("state", "attempt", "elapsed_seconds") if k in progress}
