"""The scale-out backend's broker: Dramatiq on RabbitMQ, set up one way for API and workers.

Why these settings (see docs/architecture.md):

* ``confirm_delivery``: a publish returns once RabbitMQ has the message (on a
  durable queue, as a persistent message), so ``dispatched_at`` is only set
  for a job the broker really holds.
* Acknowledgement after the actor returns (Dramatiq's RabbitMQ consumer), and
  one message per worker thread at a time (the worker sets its prefetch to its
  thread count): a worker killed mid-solve leaves its one message unacknowledged,
  and RabbitMQ delivers it again to another worker; no worker hoards messages
  while busy, so jobs spread over every worker.
* Middleware: only ``Retries``, for a database that is down when a message
  arrives (the message comes back with a backoff until it is up again). No
  ``TimeLimit`` (it cannot interrupt HiGHS and our own overrun guard stops a
  solve through the solver's cancel token), no ``AgeLimit`` (a job waiting
  for a worker must wait, not expire), no callbacks or pipelines.
* A message carries only the job's id: the database says what to solve.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import Retries
from sqlalchemy.exc import InterfaceError, OperationalError

from app.settings import Settings

ACTOR_NAME = "poolbuy_solve_job"
# Backoff of a message whose worker could not reach the database: 1 s, doubling, at most 30 s.
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 30_000
# Redeliveries for a database that stays down: some hours at the longest backoff.
MAX_DATABASE_RETRIES = 1_000


def _retry_when(retries: int, exception: BaseException) -> bool:
    # Only an unreachable database is worth waiting for; anything else is a bug whose
    # job the sweeper takes up again (and fails after jobs_max_attempts).
    return retries < MAX_DATABASE_RETRIES and isinstance(
        exception, OperationalError | InterfaceError
    )


def make_broker(settings: Settings) -> RabbitmqBroker:
    retries = Retries(
        min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS, retry_when=_retry_when
    )
    return RabbitmqBroker(url=settings.broker_url, confirm_delivery=True, middleware=[retries])


def declare_actor(
    broker: RabbitmqBroker, queue: str, fn: Callable[[int], Any]
) -> dramatiq.Actor[[int], Any]:
    return dramatiq.Actor(
        fn,
        broker=broker,
        actor_name=ACTOR_NAME,
        queue_name=queue,
        priority=0,
        options={},
    )


def enqueue(broker: RabbitmqBroker, queue: str, job_id: int) -> None:
    """Publish one job's message (raises when the broker is unreachable)."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue, actor_name=ACTOR_NAME, args=(job_id,), kwargs={}, options={}
    )
    broker.enqueue(message)
