"""Contract fuzzing: Schemathesis against the service's own OpenAPI document, as each role.

Every operation of ``create_app()``'s schema is exercised in-process (ASGI) against a
freshly migrated throw-away database holding the Panama demo group (``load_demo``),
once per demo role and once without a token. Every Schemathesis check runs (the
defaults of ``case.call_and_validate`` are all of them: no server error, status
codes, content types, response headers and schemas, negative data rejected, positive
data accepted, missing required headers, unsupported methods and ``Allow``, ...).

Two expectations are widened, both by a status the standards assign to the case, not
to hide a finding:

* positive data may meet **412**: a generated ``If-Match`` is well-formed but is not the
  resource's current ETag, which no generator can know (like 404 for an id that names
  nothing and 409 for a state conflict, both already expected);
* a missing required header may be answered **428** (RFC 6585: "Precondition Required"
  is the answer to a missing ``If-Match``).

A generated ``Idempotency-Key`` that is well-formed is replaced by a fresh one per
request: a real client draws a new key per request, and the same key with another body
is refused with 422 by design (IETF Idempotency-Key draft). Malformed keys are sent as
generated, so their rejection is still fuzzed.

Bounded: ``FUZZ_MAX_EXAMPLES`` per operation and role (environment variable
``POOLBUY_FUZZ_EXAMPLES``), no shrinking, a per-example deadline. Run it with
``POOLBUY_FUZZ=1 .venv/bin/python -m pytest tests/security/test_fuzz_schemathesis.py -q``
(about 15 minutes on two cores today: too slow for every CI run yet).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from sqlalchemy.orm import Session, sessionmaker

from app.db import get_session, make_engine, serve_session, upgrade_database
from app.demo import issue_demo_tokens, load_demo
from app.main import create_app
from app.settings import Settings
from tests.conftest import DatabaseFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    # Not yet in the default run: it takes about 15 minutes and still reports findings
    # (schema-valid requests refused by business rules the schema cannot state, e.g. a
    # deadline in the past or an unknown agency in a /solve document; see
    # docs/reliability.md, "Security and fuzzing"). POOLBUY_FUZZ=1 runs it.
    pytest.mark.skipif(
        not os.environ.get("POOLBUY_FUZZ"), reason="set POOLBUY_FUZZ=1 to fuzz (slow)"
    ),
]

FUZZ_MAX_EXAMPLES = int(os.environ.get("POOLBUY_FUZZ_EXAMPLES", "4"))
# Per generated request; a close or re-run waits for its solve, the slowest request here.
EXAMPLE_DEADLINE = dt.timedelta(seconds=30)

# One demo person per role (their e-mail in app.demo), and no token at all.
ROLES: dict[str, str | None] = {
    "anonymous": None,
    "local_team": "local.iom@demo.poolbuy.org",
    "technical_specialist": "health.lead@demo.poolbuy.org",
    "chief_of_mission": "chief.iom@demo.poolbuy.org",
    "coordinator": "coordinator@demo.poolbuy.org",
    "admin": "admin@demo.poolbuy.org",
}

# The service as deployed, but: no background scheduler (nothing runs between requests),
# no abuse limits (the fuzzer is one token sending thousands of requests, some with bad
# tokens: tests/security/test_owasp_api2_* and api4_* test the limits), short solves.
APP = create_app(
    Settings(
        environment="test",
        jobs_scheduler=False,
        auth_failure_limit=0,
        token_rate_limit=0,
        max_solve_seconds=10,
        jobs_wait_seconds=1,
        jobs_embedded_workers=1,
    )
)

CHECKS = {
    "positive_data_acceptance": {
        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "429"]
    },
    "missing_required_header": {
        "expected-statuses": ["400", "401", "403", "406", "415", "422", "428"]
    },
}
GENERATION = {"max-examples": FUZZ_MAX_EXAMPLES, "no-shrink": True}


def _schema(phases: dict[str, bool]) -> Any:
    config = SchemathesisConfig.from_dict(
        {
            "generation": GENERATION,
            "checks": CHECKS,
            "phases": {name: {"enabled": on} for name, on in phases.items()},
        }
    )
    return schemathesis.openapi.from_asgi("/openapi.json", APP, config=config)


# Generated data (the documented examples, then random valid and invalid requests) as
# every role; the coverage phase's deterministic cases (every boundary, every missing
# required part, every undocumented method) once, as the coordinator, whose token
# reaches the deepest into every operation. Same operations, same checks.
by_role = _schema({"examples": True, "fuzzing": True, "coverage": False, "stateful": False})
coverage = _schema({"examples": False, "fuzzing": False, "coverage": True, "stateful": False})


@pytest.fixture(scope="module")
def demo_tokens(database_factory: DatabaseFactory) -> Iterator[dict[str, str]]:
    """A new database at the head migration with the demo group; a token per demo user."""
    url = database_factory.create()
    upgrade_database(url)
    engine = make_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session:
        load_demo(session)
        tokens = {t.person.email: t.token for t in issue_demo_tokens(session)}

    def _session() -> Iterator[Session]:
        with factory() as session:
            yield from serve_session(session)

    APP.dependency_overrides[get_session] = _session
    try:
        yield tokens
    finally:
        APP.dependency_overrides.pop(get_session, None)
        engine.dispose()


def _fresh_idempotency_key(case: Any) -> None:
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and 0 < len(key) <= 255 and key.isprintable():
        headers["Idempotency-Key"] = str(uuid.uuid4())


def _call(case: Any, role: str, tokens: dict[str, str]) -> None:
    email = ROLES[role]
    headers = {"Authorization": f"Bearer {tokens[email]}"} if email else {}
    _fresh_idempotency_key(case)
    case.call_and_validate(headers=headers)


@pytest.mark.parametrize("role", list(ROLES))
@by_role.parametrize()
@settings(deadline=EXAMPLE_DEADLINE, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_contract_as_each_role(case: Any, role: str, demo_tokens: dict[str, str]) -> None:
    _call(case, role, demo_tokens)


@coverage.parametrize()
@settings(deadline=EXAMPLE_DEADLINE, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_contract_coverage(case: Any, demo_tokens: dict[str, str]) -> None:
    _call(case, "coordinator", demo_tokens)
