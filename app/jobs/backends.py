"""The two backends behind one interface: ``dispatch(job_ids, database_url)``.

* ``EmbeddedBackend`` (default): a pool of solving processes inside the
  service. No other server; works on SQLite. Solves run in other processes
  (started with ``spawn``: a fresh interpreter, never a fork of the threaded
  API), at a lower CPU priority, so the API's event loop and GIL stay free.
* ``BrokerBackend`` (``POOLBUY_JOBS_BACKEND=broker``): each job becomes a
  RabbitMQ message that any ``poolbuy worker`` takes. Publishing happens on a
  thread of its own: a request never waits for the broker, and a broker that
  is down leaves the job queued in the database (``dispatched_at`` null) for
  the sweeper to publish when it is back.

A job handed over twice is harmless: only one claim succeeds.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import queue
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from app.jobs import registry, runner
from app.jobs import service as jobs_service
from app.settings import Settings

log = logging.getLogger("poolbuy.jobs")


class JobBackend(Protocol):
    name: str

    def dispatch(self, job_ids: list[int], database_url: str) -> None:
        """Hand committed, queued jobs over; never blocks on a solve."""

    def in_flight(self) -> set[int]:
        """Jobs this process handed over and that did not end yet (as far as it knows)."""

    def close(self) -> None: ...


def pool_size(settings: Settings) -> int:
    if settings.jobs_embedded_workers:
        return settings.jobs_embedded_workers
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, cores - 1)


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._settings_data = settings.model_dump()
        # Re-entrant: a future that is already done runs its callback in dispatch's thread.
        self._lock = threading.RLock()
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[int, Future[str]] = {}

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=pool_size(self.settings),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=runner.pool_initializer,
                initargs=(self.settings.jobs_worker_nice, registry.modules()),
            )
        return self._pool

    def dispatch(self, job_ids: list[int], database_url: str) -> None:
        with self._lock:
            for job_id in job_ids:
                if job_id in self._futures:
                    continue
                try:
                    future = self._executor().submit(
                        runner.pool_entry, job_id, database_url, self._settings_data
                    )
                except BrokenProcessPool:
                    # A solving process died (killed, out of memory): start a new pool.
                    log.warning("embedded pool broken; starting a new one")
                    self._pool = None
                    future = self._executor().submit(
                        runner.pool_entry, job_id, database_url, self._settings_data
                    )
                self._futures[job_id] = future
                future.add_done_callback(functools.partial(self._done, job_id))

    def warm_up(self) -> None:
        """Start the solving processes now (importing the solver takes seconds), not on the
        first job."""
        with self._lock:
            pool = self._executor()
            for _ in range(pool_size(self.settings)):
                pool.submit(runner.warm)

    def _done(self, job_id: int, future: Future[str]) -> None:
        with self._lock:
            self._futures.pop(job_id, None)
            error = None if future.cancelled() else future.exception()
            if isinstance(error, BrokenProcessPool):
                # The job's lease runs out and the sweeper hands it over again.
                self._pool = None
        if error is not None:
            log.error("job %s: the solving process failed: %r", job_id, error)

    def in_flight(self) -> set[int]:
        with self._lock:
            return set(self._futures)

    def wait_idle(self, timeout: float) -> bool:
        """For tests and benchmarks: wait until every handed-over job ended here."""
        with self._lock:
            futures = list(self._futures.values())
        from concurrent.futures import wait

        _, pending = wait(futures, timeout=timeout)
        return not pending

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._futures.clear()
        if pool is not None:
            # Solves still running are stopped with their processes; their leases run
            # out and the sweeper of the next start hands the jobs over again.
            processes = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                if process.is_alive():
                    process.terminate()


class BrokerBackend:
    name = "broker"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._outbox: queue.Queue[tuple[int, str] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._pending: set[int] = set()
        self._idle = threading.Condition(self._lock)

    def dispatch(self, job_ids: list[int], database_url: str) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._publish_forever, name="job-publisher", daemon=True
                )
                self._thread.start()
            for job_id in job_ids:
                self._pending.add(job_id)
                self._outbox.put((job_id, database_url))

    def _publish_forever(self) -> None:
        from app.jobs import broker as broker_module

        while True:
            item = self._outbox.get()
            if item is None:
                return
            job_id, database_url = item
            try:
                if self._broker is None:
                    self._broker = broker_module.make_broker(self.settings)
                broker_module.enqueue(self._broker, self.settings.jobs_queue, job_id)
                with runner.session_factory(database_url)() as session:
                    jobs_service.mark_dispatched(session, [job_id])
            except Exception as exc:
                # The job stays queued with dispatched_at null: the sweeper publishes it
                # again once the broker (or the database) answers.
                log.warning("job %s: could not publish it yet: %s", job_id, exc)
            finally:
                with self._lock:
                    self._pending.discard(job_id)
                    self._idle.notify_all()

    def in_flight(self) -> set[int]:
        with self._lock:
            return set(self._pending)

    def wait_published(self, timeout: float) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def close(self) -> None:
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is not None:
            self._outbox.put(None)
            thread.join(10)
        if self._broker is not None:
            self._broker.close()
            self._broker = None


_backends: dict[tuple[str, str, str], JobBackend] = {}
_backends_lock = threading.Lock()


def get_backend(settings: Settings) -> JobBackend:
    """The process's backend for these settings (one pool or publisher, made on first use)."""
    key = (settings.jobs_backend, settings.broker_url, settings.jobs_queue)
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            backend = (
                BrokerBackend(settings)
                if settings.jobs_backend == "broker"
                else EmbeddedBackend(settings)
            )
            _backends[key] = backend
        return backend


def close_all() -> None:
    with _backends_lock:
        backends = list(_backends.values())
        _backends.clear()
    for backend in backends:
        backend.close()
