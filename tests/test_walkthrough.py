"""docs/walkthrough.md, executed: the newcomer's curl sequence cannot rot.

How the file is read:

* every fenced block with the info string ``sh`` is a step; the blocks run in
  order, as one bash script, with ``curl`` replaced by a shell function that
  records its arguments (and its standard input, for ``--data-binary @-``).
  Variables (``$BASE``, ``$ROUND``, ``$TOKEN_*``) are those ``poolbuy serve
  --demo`` prints, here made by the same functions; assignments and command
  substitutions in the blocks (``NEED_BY=$(date ...)``) are bash's own;
* each recorded curl call is sent to the app (``TestClient``), on a freshly
  migrated database of its own loaded by ``load_demo``;
* the ``http`` block after a step is its answer: the status line must match
  every call of the step, and the JSON below it (if any) must match the last
  call's answer. Objects match when every key shown has that value (keys not
  shown are free); lists must have the same length, unless their last element
  is ``"..."``, which allows more items; the string ``"..."`` matches anything.

Blocks with other info strings (``shell``, ``text``) are shown, not run.
"""

from __future__ import annotations

import http
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.db import get_session, serve_session
from app.demo.cli import format_tokens
from app.demo.loader import DEMO_USERS, find_demo_round, issue_demo_tokens, load_demo
from app.runs.models import Run
from solver import solve

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WALKTHROUGH = Path(__file__).resolve().parent.parent / "docs" / "walkthrough.md"
BASE = "http://127.0.0.1:8000"
ANY = "..."

# Money and counts a plan reports; a stored plan must give these exactly as a re-solve.
PLAN_FIGURES = (
    "status",
    "objective",
    "purchase_cost",
    "shipping_cost",
    "money_cost",
    "late_penalty",
    "late_unit_days",
    "unmet_penalty",
    "unmet_units",
    "baseline",
)


# ----------------------------------------------------------------- reading the file


@dataclass
class Step:
    index: int
    script: str
    line: int
    status: int | None = None
    reason: str = ""
    answer: Any = None
    calls: list[CurlCall] = field(default_factory=list)


@dataclass
class CurlCall:
    step: int
    args: list[str]
    stdin: str


_FENCE = re.compile(r"^```(\S*)\s*$")


def read_steps(text: str) -> list[Step]:
    """The ``sh`` blocks with the ``http`` answer that follows each."""
    steps: list[Step] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening or not opening.group(1):
            i += 1
            continue
        info, start = opening.group(1), i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(lines[start:end])
        if info == "sh":
            steps.append(Step(len(steps), body, start))
        elif info == "http":
            assert steps, f"line {start}: an answer before any step"
            step = steps[-1]
            assert step.status is None, f"line {start}: two answers for the step at {step.line}"
            status_line, _, rest = body.partition("\n")
            matched = re.fullmatch(r"HTTP/1\.1 (\d{3}) (.+)", status_line.strip())
            assert matched, f"line {start}: answer must start with 'HTTP/1.1 <code> <reason>'"
            step.status, step.reason = int(matched.group(1)), matched.group(2)
            step.answer = json.loads(rest) if rest.strip() else None
        i = end + 1
    return steps


_RECORDER = r"""
__record() {
    # One call: the step, each argument, the standard input, NUL-separated.
    local stdin=""
    local arg
    for arg in "$@"; do
        if [ "$arg" = "@-" ]; then stdin=$(cat); fi
    done
    { printf 'CALL\0%s\0' "$__STEP"; printf '%s\0' "$@"; printf 'STDIN\0%s\0END\0' "$stdin"; } \
        >> "$__CALLS"
}
curl() { __record "$@"; }
set -euo pipefail
"""


def record_calls(steps: list[Step], env: dict[str, str], workdir: Path) -> None:
    """Run the steps in bash with curl recorded; attach each call to its step."""
    calls_file = workdir / "calls.bin"
    script = [_RECORDER]
    for step in steps:
        script.append(f"__STEP={step.index}\n{step.script}\n")
    bash = shutil.which("bash")
    assert bash, "bash is needed to read the walkthrough's shell"
    result = subprocess.run(
        [bash, "-c", "\n".join(script)],
        env={**env, "PATH": os.environ.get("PATH", ""), "__CALLS": str(calls_file)},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"the walkthrough's shell failed: {result.stderr}"
    fields = calls_file.read_bytes().decode().split("\0") if calls_file.exists() else []
    i = 0
    while i < len(fields) - 1:
        assert fields[i] == "CALL", fields[i : i + 3]
        number = int(fields[i + 1])
        j = i + 2
        args: list[str] = []
        while fields[j] != "STDIN":
            args.append(fields[j])
            j += 1
        steps[number].calls.append(CurlCall(number, args, fields[j + 1]))
        assert fields[j + 2] == "END"
        i = j + 3


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None


def parse_curl(call: CurlCall, base: str) -> Request:
    """What curl would send for these arguments; options the harness does not know fail."""
    method: str | None = None
    headers: dict[str, str] = {}
    body: str | None = None
    url: str | None = None
    args = iter(call.args)
    for arg in args:
        if arg in ("-s", "-S", "-sS", "-i", "--silent", "--show-error", "--fail-with-body"):
            continue
        if arg in ("-o", "--output", "-w", "--write-out"):
            next(args)  # where the answer goes / what is printed after it: not the request
        elif arg in ("-X", "--request"):
            method = next(args)
        elif arg in ("-H", "--header"):
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg in ("-d", "--data", "--data-binary", "--data-raw"):
            data = next(args)
            body = call.stdin if data == "@-" else data
        elif arg.startswith("-"):
            raise AssertionError(f"step {call.step}: curl option {arg} is not understood here")
        else:
            assert url is None, f"step {call.step}: two URLs ({url}, {arg})"
            url = arg
    assert url is not None and url.startswith(base), f"step {call.step}: URL {url} not on {base}"
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if body is not None and not any(h.lower() == "content-type" for h in headers):
        # What curl sends with -d when no Content-Type is given.
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return Request(method or ("POST" if body is not None else "GET"), path, headers, body)


def mismatch(expected: Any, actual: Any, path: str = "$") -> str | None:
    """Why ``actual`` does not match the abridged ``expected``; None when it does."""
    if expected == ANY:
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: missing"
            if (problem := mismatch(value, actual[key], f"{path}.{key}")) is not None:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path}: expected a list, got {actual!r}"
        more = bool(expected) and expected[-1] == ANY
        shown = expected[:-1] if more else expected
        if len(actual) < len(shown) or (not more and len(actual) != len(shown)):
            return f"{path}: {len(actual)} items, the walkthrough shows {len(shown)}"
        for k, value in enumerate(shown):
            if (problem := mismatch(value, actual[k], f"{path}[{k}]")) is not None:
                return problem
        return None
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return f"{path}: expected {expected!r}, got {actual!r}"
        return (
            None
            if actual == pytest.approx(expected, abs=1e-9)
            else (f"{path}: expected {expected!r}, got {actual!r}")
        )
    return None if expected == actual else f"{path}: expected {expected!r}, got {actual!r}"


# ------------------------------------------------------------------------ fixtures


@pytest.fixture
def demo_factory(isolated_engine: sa.Engine) -> sessionmaker[Session]:
    """A fresh migrated database with the demo group loaded, as `make run` leaves it."""
    factory = sessionmaker(bind=isolated_engine, expire_on_commit=False)
    with factory() as session:
        load_demo(session)
    return factory


@pytest.fixture
def demo_client(demo_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    from app.main import create_app

    app: FastAPI = create_app()

    def _session() -> Iterator[Session]:
        with demo_factory() as session:
            yield from serve_session(session)

    app.dependency_overrides[get_session] = _session
    # No `with`: the app's startup must not touch the settings' database.
    yield TestClient(app)


def printed_variables(factory: sessionmaker[Session]) -> dict[str, str]:
    """The variables `serve --demo` tells the newcomer to export, read from its own text."""
    with factory() as session:
        tokens = issue_demo_tokens(session)
        demo_round = find_demo_round(session)
        assert demo_round is not None
    text = format_tokens(tokens, base_url=BASE, round_id=demo_round.id)
    variables: dict[str, str] = {}
    for line in text.splitlines():
        if matched := re.fullmatch(r"export (\w+)=(\S+)", line):
            variables[matched.group(1)] = matched.group(2)
    return variables


# --------------------------------------------------------------------------- tests


def test_the_walkthrough_has_the_newcomer_sequence() -> None:
    text = WALKTHROUGH.read_text(encoding="utf-8")
    steps = read_steps(text)
    script = "\n".join(s.script for s in steps)
    assert all(s.status is not None for s in steps), [s.line for s in steps if s.status is None]
    # The sequence the README promises, in this order.
    milestones = [
        "/api/v1/rounds?status=open",
        '-X POST "$BASE/api/v1/rounds/$ROUND/needs"',
        "/priority-reviews",
        '-X POST "$BASE/api/v1/rounds/$ROUND/close"',
        "/cost-statements",
        "/purchase-orders",
        "/approvals",
        "/api/v1/audit?",
        "/api/v1/audit/verify",
    ]
    positions = [script.find(m) for m in milestones]
    assert -1 not in positions, [m for m, p in zip(milestones, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    for person in DEMO_USERS:
        if person.role.value == "chief_of_mission":
            assert f"$TOKEN_CHIEF_{person.agency_id.replace('-', '_')}" in script  # type: ignore[union-attr]


def test_every_step_of_the_walkthrough_answers_as_documented(
    demo_factory: sessionmaker[Session], demo_client: TestClient, tmp_path: Path
) -> None:
    steps = read_steps(WALKTHROUGH.read_text(encoding="utf-8"))
    variables = printed_variables(demo_factory)
    record_calls(steps, variables, tmp_path)

    for step in steps:
        assert step.calls, f"the step at line {step.line} sends no request"
        assert step.status is not None
        assert http.HTTPStatus(step.status).phrase == step.reason, (
            f"line {step.line}: {step.status} is '{http.HTTPStatus(step.status).phrase}'"
        )
        answer: Any = None
        for call in step.calls:
            request = parse_curl(call, variables["BASE"])
            response = demo_client.request(
                request.method,
                request.path,
                headers=request.headers,
                content=request.body.encode() if request.body is not None else None,
            )
            assert response.status_code == step.status, (
                f"line {step.line}: {request.method} {request.path} answered "
                f"{response.status_code}, the walkthrough says {step.status}: {response.text}"
            )
            answer = response.json() if response.content else None
        if step.answer is not None:
            problem = mismatch(step.answer, answer)
            assert problem is None, f"line {step.line}: {problem}\nanswer: {json.dumps(answer)}"

    # Beyond what the page shows: the stored plan is what the solver gives on the
    # stored problem, and the round ends approved with one binding run.
    with demo_factory() as session:
        # The round walked through (the demo's two past rounds have runs of their own).
        run = session.scalars(sa.select(Run).where(Run.round_id == int(variables["ROUND"]))).one()
        assert run.binding and run.plan is not None
        again = solve(run.problem)
        assert {k: run.plan[k] for k in PLAN_FIGURES} == {k: again[k] for k in PLAN_FIGURES}


# -------------------------------------------------------- the real `serve --demo`


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lines(stream: Any, sink: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):
        sink.put(line)
    sink.put(None)


def test_serve_demo_prints_a_token_per_demo_user_that_the_api_accepts(
    database_factory: Any, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_factory.create(),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("POOLBUY_AUTO_MIGRATE", None)
    script = Path(sys.executable).parent / "poolbuy"
    process = subprocess.Popen(
        [str(script), "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, printed), daemon=True).start()
    try:
        exports: dict[str, str] = {}
        text: list[str] = []
        deadline = time.monotonic() + 120
        while "TOKEN_ADMIN" not in exports:
            try:
                line = printed.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                process.kill()
                pytest.fail(
                    f"serve --demo printed no tokens: {''.join(text)}"
                    f"{process.stderr.read() if process.stderr else ''}"
                )
            text.append(line)
            if matched := re.fullmatch(r"export (\w+)=(\S+)\n", line):
                exports[matched.group(1)] = matched.group(2)

        printed_text = "".join(text)
        assert "Loaded the Panama demo group" in printed_text
        assert exports["BASE"] == f"http://127.0.0.1:{port}"
        assert {p.variable for p in DEMO_USERS} <= set(exports)
        for person in DEMO_USERS:
            row = next(line for line in text if line.strip().startswith(person.variable + " "))
            assert person.name in row and person.role.value in row and person.email in row
            assert (person.agency_id or "-") in row

        me = _get_when_up(f"{exports['BASE']}/api/v1/me", exports["TOKEN_LOCAL_IOM"])
        assert me["email"] == "local.iom@demo.poolbuy.org"
        assert me["agency_id"] == "IOM" and me["roles"] == ["local_team"]
        rounds = _get_when_up(
            f"{exports['BASE']}/api/v1/rounds/{exports['ROUND']}", exports["TOKEN_COORDINATOR"]
        )
        assert rounds["status"] == "open"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get_when_up(url: str, token: str, timeout: float = 60) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError:
            raise  # the server is up and said no: that is the test's failure
        except OSError:
            # Connection refused until uvicorn listens.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
