"""``poolbuy worker``: one process solving jobs from the broker, started on any machine.

It consumes the queue named by ``POOLBUY_JOBS_QUEUE`` on ``POOLBUY_BROKER_URL``
and writes to ``DATABASE_URL`` (the one PostgreSQL every worker and API replica
shares). ``--concurrency`` jobs at a time (threads: HiGHS releases the GIL),
each holding one unacknowledged message; more capacity is more worker
processes, here or on other machines. It also runs the sweeper (see
``app.jobs.scheduler``) unless told not to.

SIGTERM or SIGINT stops it gracefully: no new message is taken, a solve under
way is stopped and its job handed back to the queue (another worker takes it
up), then the process exits. SIGKILL is survived too, only more slowly: the
broker delivers the unacknowledged message again and the next worker takes
the job over once the dead one's lease has run out.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

import dramatiq
from sqlalchemy.orm import sessionmaker

from app.db import make_engine
from app.jobs import broker as broker_module
from app.jobs import runner
from app.jobs.backends import BrokerBackend
from app.jobs.scheduler import Sweeper
from app.jobs.service import worker_name
from app.settings import Settings

log = logging.getLogger("poolbuy.jobs")

READY = "poolbuy worker ready"


def run_worker(
    settings: Settings,
    *,
    queue: str | None = None,
    concurrency: int = 1,
    sweeper: bool | None = None,
) -> int:
    queue = queue or settings.jobs_queue
    settings = settings.model_copy(update={"jobs_queue": queue, "jobs_backend": "broker"})
    if settings.jobs_worker_nice:
        try:
            os.nice(settings.jobs_worker_nice)
        except OSError:
            log.warning("could not lower this worker's priority; solving at normal priority")

    engine = make_engine(settings.database_url, pool_size=concurrency + 3)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    shutdown = threading.Event()
    stopped = threading.Event()

    def solve_job(job_id: int) -> None:
        name = f"{worker_name()}"
        result = runner.run_job(
            job_id, factory=factory, settings=settings, worker=name, shutdown=shutdown
        )
        log.info("job %s: %s", job_id, result)

    broker = broker_module.make_broker(settings)
    broker_module.declare_actor(broker, queue, solve_job)
    dramatiq.set_broker(broker)
    worker = dramatiq.Worker(broker, queues={queue}, worker_threads=concurrency, worker_timeout=500)
    # One message per thread: a busy worker holds no one else's job (see app.jobs.broker).
    worker.queue_prefetch = concurrency
    worker.start()

    backend = BrokerBackend(settings)
    sweep = None
    if settings.jobs_scheduler if sweeper is None else sweeper:
        sweep = Sweeper(settings, backend, factory, settings.database_url)
        sweep.start()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        shutdown.set()
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"{READY}: queue {queue}, {concurrency} at a time, pid {os.getpid()}", flush=True)
    stopped.wait()

    if sweep is not None:
        sweep.stop()
    # Running solves see `shutdown` at their next heartbeat and hand their jobs back.
    worker.stop(timeout=int((settings.jobs_heartbeat_seconds * 3 + 30) * 1000))
    backend.close()
    broker.close()
    engine.dispose()
    print("poolbuy worker stopped", file=sys.stderr, flush=True)
    return 0
