"""POST /api/v1/solve and the HTTP plumbing around it, through the real solver.

Requests go through httpx's ASGI transport (it streams request bodies chunk by chunk, which
the body-limit tests rely on); one test runs a real uvicorn server on a socket.
"""

import base64
import copy
import hashlib
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.auth.deps import get_current_user
from app.auth.models import User
from app.main import create_app
from app.settings import Settings
from app.solve import service
from app.solve.example import EXAMPLE_PROBLEM
from app.solve.schemas import PLAN_SCHEMA
from solver import validate
from solver.examples import generate_problem

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

SOLVE = "/api/v1/solve"
JSON_HEADERS = {"content-type": "application/json"}
PROBLEM_JSON = "application/problem+json"
CHUNK = 64 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def signed_in_app(settings: Settings) -> FastAPI:
    # /solve needs a signed-in user (any role); these tests are about the solve, not
    # who asks, and run without a database: a user stands in for the token check.
    app = create_app(settings)
    app.dependency_overrides[get_current_user] = lambda: User(id=1, email="t@example.org")
    return app


def client_for(settings: Settings | None = None, **kwargs: Any) -> httpx.AsyncClient:
    app = signed_in_app(settings or Settings())
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **kwargs), base_url="http://testserver"
    )


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def conforms(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Where `value` breaks the (small) JSON Schema subset PLAN_SCHEMA uses."""
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    python: dict[str, type | tuple[type, ...]] = {
        "object": dict,
        "array": list,
        "string": str,
        "null": type(None),
        "integer": int,
        "number": (int, float),
        "boolean": bool,
    }
    if kinds and not any(
        isinstance(value, python[k]) and (k == "boolean") == isinstance(value, bool)
        for k in kinds
    ):
        return [f"{where}: {value!r} is not {kinds}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        problems += [f"{where}.{k}: missing" for k in schema.get("required", []) if k not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems += conforms(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, entry in enumerate(value):
            problems += conforms(entry, schema["items"], f"{where}[{i}]")
    return problems


# --- solving -------------------------------------------------------------------------


async def test_the_documented_example_is_solved_to_the_hand_computed_optimum() -> None:
    async with client_for() as client:
        response = await client.post(SOLVE, json=EXAMPLE_PROBLEM)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    plan = response.json()
    assert conforms(plan, PLAN_SCHEMA) == []
    assert plan["status"] == "optimal"
    # Pooled, the two agencies' 11,000 respirators reach the 10,000 tier at 1.00, on one
    # shipment: 11,000 + 500 fixed + 110 per unit. Alone, each pays 1.20 and its own 500.
    assert plan["orders"] == [
        {
            "offer": "o-1",
            "supplier": "sup-001",
            "item": "ppe-mask-n95",
            "quantity": 11000,
            "tier_min_quantity": 10000,
            "unit_price": 1.0,
            "packs": 11000,
            "surplus": 0,
            "goods_cost": 11000.0,
            "fee": 0.0,
            "cost": 11000.0,
        }
    ]
    assert plan["money_cost"] == pytest.approx(11610.0)
    standalone = {a["agency"]: a["standalone_cost"] for a in plan["agencies"]}
    assert standalone == pytest.approx({"IOM": 7760.0, "UNICEF": 6550.0})
    assert plan["baseline"]["savings"] == pytest.approx(14310.0 - 11610.0)
    assert sum(a["allocated_cost"] for a in plan["agencies"]) == pytest.approx(11610.0)
    assert [(u["need"], u["quantity"], u["reason"]) for u in plan["unmet"]] == [
        ("n-3", 20, "no_route")
    ]


async def test_a_generated_small_problem_is_solved() -> None:
    document = generate_problem(size="small", seed=0)
    async with client_for() as client:
        response = await client.post(SOLVE, json=document)

    assert response.status_code == 200, response.text
    plan = response.json()
    assert conforms(plan, PLAN_SCHEMA) == []
    assert plan["status"] == "optimal"
    agencies_with_needs = {n["agency"] for n in document["needs"]}
    assert {a["agency"] for a in plan["agencies"]} == agencies_with_needs


async def test_the_solve_runs_in_a_worker_thread_with_the_time_limit_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, float | None]] = []
    real_solve = service.solve

    def spying_solve(problem: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append((threading.get_ident(), kwargs["time_limit_seconds"]))
        return real_solve(problem, **kwargs)

    monkeypatch.setattr(service, "solve", spying_solve)
    document = copy.deepcopy(EXAMPLE_PROBLEM)
    document["settings"]["time_limit_seconds"] = 600
    async with client_for(Settings(max_solve_seconds=7.5)) as client:
        response = await client.post(SOLVE, json=document)

    assert response.status_code == 200, response.text
    [(thread, time_limit)] = calls
    assert thread != threading.get_ident(), "the solve ran on the event loop's thread"
    assert time_limit == 7.5


# --- bad input -----------------------------------------------------------------------


def broken_example() -> tuple[dict[str, Any], set[str]]:
    """The example with six different problems, and the path each must be reported at."""
    document = copy.deepcopy(EXAMPLE_PROBLEM)
    document["needs"][0]["agency"] = "WFP"  # unknown reference
    document["agencies"].append({"id": "IOM", "name": "again"})  # duplicate id
    document["offers"][0]["price_tiers"][1]["unit_price"] = 1.5  # a rising tier price
    document["routes"][0]["fixed_cost"] = -500.0  # a negative cost
    document["needs"][1]["quantity"] = 2.5  # not a whole quantity
    document["needs"][2]["priority"] = "urgent"  # unknown priority
    return document, {
        "$.needs[0].agency",
        "$.agencies[2].id",
        "$.offers[0].price_tiers[1].unit_price",
        "$.routes[0].fixed_cost",
        "$.needs[1].quantity",
        "$.needs[2].priority",
    }


async def test_an_invalid_document_gets_422_listing_every_problem() -> None:
    document, expected_paths = broken_example()
    async with client_for() as client:
        response = await client.post(SOLVE, json=document)

    body = assert_problem(response, 422)
    assert {e["path"] for e in body["errors"]} == expected_paths
    assert all(e["reason"] for e in body["errors"])
    assert body["detail"].startswith("6 problems")
    reasons = {e["path"]: e["reason"] for e in body["errors"]}
    assert "WFP" in reasons["$.needs[0].agency"]
    assert "IOM" in reasons["$.agencies[2].id"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"as_of": "2026-12-01",', "malformed JSON"),
        (b"", "malformed JSON"),
        (b'{"as_of": NaN}', "NaN is not valid JSON"),
        (b"\xff\xfe\x00garbage", "malformed JSON"),
        (b"[" * 100_000, "nests deeper than 32 levels"),  # refused before it is parsed
        (b"[1, 2, 3]", "must be a JSON object"),
    ],
    ids=["truncated", "empty", "nan", "not-utf8", "deeply-nested", "not-an-object"],
)
async def test_a_body_that_is_not_a_json_object_gets_422(body: bytes, reason: str) -> None:
    async with client_for() as client:
        response = await client.post(SOLVE, content=body, headers=JSON_HEADERS)

    problem = assert_problem(response, 422)
    [error] = problem["errors"]
    assert error["path"] == "$"
    assert reason in error["reason"]


async def test_a_body_not_declared_as_json_gets_415() -> None:
    async with client_for() as client:
        form = await client.post(SOLVE, content=b"{}", headers={"content-type": "text/plain"})
        missing = await client.post(SOLVE, content=b"{}")

    assert_problem(form, 415)
    assert_problem(missing, 415)


# --- the body limit ------------------------------------------------------------------


async def test_a_declared_body_over_the_limit_gets_413_before_the_app_reads_it() -> None:
    async with client_for(Settings(max_body_bytes=1000)) as client:
        response = await client.post(SOLVE, content=b" " * 1001, headers=JSON_HEADERS)
        at_limit = await client.post(SOLVE, content=b" " * 999 + b"x", headers=JSON_HEADERS)

    body = assert_problem(response, 413)
    assert "1000 bytes" in body["detail"]
    # Exactly at the limit the body is read (and found to be bad JSON).
    assert_problem(at_limit, 422)


class CountingBody:
    """A chunked request body of `total` bytes that counts what the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            chunk = b" " * min(CHUNK, self.total - self.sent)
            self.sent += len(chunk)
            yield chunk


async def test_a_chunked_body_over_the_limit_gets_413_and_is_not_read_to_the_end() -> None:
    body = CountingBody(10 * 1024 * 1024)
    async with client_for(Settings(max_body_bytes=100_000)) as client:
        response = await client.post(SOLVE, content=body, headers=JSON_HEADERS)

    assert_problem(response, 413)
    assert body.sent <= 100_000 + CHUNK


async def test_a_50_mb_body_streamed_in_chunks_is_refused_at_the_default_limit() -> None:
    settings = Settings()
    body = CountingBody(50 * 1024 * 1024)
    async with client_for(settings) as client:
        response = await client.post(SOLVE, content=body, headers=JSON_HEADERS)

    assert_problem(response, 413)
    assert settings.max_body_bytes < body.total
    assert body.sent <= settings.max_body_bytes + CHUNK, "the server read past its limit"


@pytest.fixture
def live_server() -> Iterator[str]:
    """The app under a real uvicorn on a free local port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        signed_in_app(Settings()), host="127.0.0.1", port=port, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_a_50_mb_body_over_a_real_socket_gets_413(live_server: str) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        while sent < 50 * 1024 * 1024:
            sent += CHUNK
            yield b" " * CHUNK

    with httpx.Client(base_url=live_server, timeout=30) as client:
        response = client.post(SOLVE, content=chunks(), headers=JSON_HEADERS)

    assert_problem(response, 413)
    assert sent < 50 * 1024 * 1024, "the client got to send the whole body"


def test_a_declared_50_mb_body_is_refused_before_any_of_it_is_sent(live_server: str) -> None:
    host, port = live_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"POST {SOLVE} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"application/problem+json" in head.lower()
    assert b"Payload too large" in body


# --- the rest of the HTTP surface ----------------------------------------------------


async def test_healthz() -> None:
    async with client_for() as client:
        response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_an_unknown_route_gets_a_404_problem() -> None:
    async with client_for() as client:
        response = await client.get("/api/v1/nothing-here")

    assert_problem(response, 404)


async def test_an_unexpected_failure_is_a_500_problem_without_internals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def exploding_solve(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("secret internals at /srv/poolbuy")

    monkeypatch.setattr(service, "solve", exploding_solve)
    async with client_for(raise_app_exceptions=False) as client:
        response = await client.post(SOLVE, json=EXAMPLE_PROBLEM)

    assert_problem(response, 500)
    assert "secret internals" not in response.text


async def test_every_response_carries_the_security_headers() -> None:
    async with client_for(Settings(max_body_bytes=10)) as client:
        responses = [
            await client.get("/healthz"),
            await client.get("/nowhere"),
            await client.post(SOLVE, content=b"x" * 11, headers=JSON_HEADERS),
        ]

    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_the_docs_page_is_allowed_exactly_its_own_inline_script() -> None:
    async with client_for() as client:
        response = await client.get("/docs")

    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert scripts, "Swagger UI boots from an inline script"
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "https://cdn.jsdelivr.net" in policy and "connect-src 'self'" in policy


async def test_openapi_documents_the_problem_document_with_a_valid_example() -> None:
    async with client_for() as client:
        document = (await client.get("/openapi.json")).json()

    body = document["paths"][SOLVE]["post"]["requestBody"]["content"]["application/json"]
    example = body["examples"]["two-agencies"]["value"]
    assert validate(example)  # the example is a real problem, not an illustration
    assert set(body["schema"]["required"]) >= {"as_of", "currency"}
    assert "needs" in body["schema"]["properties"]

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    components = document["components"]["schemas"]
    all_refs = set(refs(document))
    assert "#/components/schemas/ProblemV1Need" in all_refs
    for ref in all_refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in components, ref
    assert "$defs" not in str(document)


async def test_cors_is_off_unless_origins_are_configured() -> None:
    preflight = {
        "origin": "https://agency.example.org",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    async with client_for() as client:
        closed = await client.options(SOLVE, headers=preflight)
    async with client_for(Settings(cors_origins=["https://agency.example.org"])) as client:
        opened = await client.options(SOLVE, headers=preflight)

    assert "access-control-allow-origin" not in closed.headers
    assert opened.status_code == 200
    assert opened.headers["access-control-allow-origin"] == "https://agency.example.org"
