"""Hostile bodies, media types and ids, sent to every route of the route table.

Every case is generated from the app's routes, so a route added tomorrow is tried too:

* a JSON body nested thousands deep, and one with a NUL in a string, to every write
  route, anonymously and with a coordinator's token: a 4xx problem document, nothing
  written to the log at ERROR (no traceback), whether the database is SQLite or
  PostgreSQL (the suite runs on both);
* a body of a media type the route does not read: 415 (JSON routes refuse forms and
  text, the way browsers send cross-site without asking; pages refuse JSON);
* an id in the path written other than in plain digits (``1.0``, ``+1``, ``01``): never
  the row.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.bodies import FORM, JSON, MAX_JSON_DEPTH, MULTIPART, consumes, json_depth
from tests.security.world import World, build_world

pytestmark = pytest.mark.integration

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NESTED_ARRAYS = "[" * 3000 + "]" * 3000
NESTED_OBJECTS = '{"a":' * 3000 + "1" + "}" * 3000
NUL_BODY = '{"justification": "cold\\u0000nights", "reason": "x\\u0000", "name": "a\\u0000b"}'


def _routes(app: FastAPI, methods: frozenset[str] | None = None) -> Iterator[tuple[str, str, Any]]:
    for context in iter_route_contexts(app.routes):
        if not context.methods:
            continue
        for method in sorted(set(context.methods) & (methods or set(context.methods))):
            yield method, context.path, context.original_route


def _int_params(route: Any) -> set[str]:
    names: set[str] = set()
    stack = [route.dependant] if hasattr(route, "dependant") else []
    while stack:
        dependant = stack.pop()
        names |= {p.name for p in dependant.path_params if p.field_info.annotation is int}
        stack.extend(dependant.dependencies)
    return names


# Path parameters that are not ids: a value the route takes, so the request gets past
# routing (where the guard has already answered).
_TEXT_PARAMS = {"kind": "offers", "sheet": "orders", "fmt": "csv"}


def _url(path: str, world: World | None, spelled: str = "{}") -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _TEXT_PARAMS:
            return _TEXT_PARAMS[name]
        ids = world.ids if world is not None else {}
        row = {
            "round_id": "open",
            "need_id": "submitted_a",
            "run_id": "run",
            "job_id": "job",
            "scenario_id": "scenario",
            "token_id": "token",
            "user_id": "user",
            "offer_id": "offer",
            "route_id": "route",
            "item_id": "item",
            "location_id": "location",
            "supplier_id": "supplier",
            "agency_id": "agency_a",
            "key": "item",
        }.get(name)
        # An id no world row stands for (a rule's, a group's): any id the path takes.
        return spelled.format(ids.get(row, 1) if row or name.endswith("_id") else "x")

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


@pytest.fixture
def world(session: Session, client: TestClient) -> World:
    return build_world(session, client)


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


def _problem(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


def test_the_route_table_has_write_routes_of_every_kind(app: FastAPI) -> None:
    # The cases below are generated from it: an empty table would test nothing.
    media = {consumes(route) for _, _, route in _routes(app, WRITES)}
    assert (JSON,) in media and (MULTIPART,) in media and (FORM, MULTIPART) in media
    assert () in media  # routes without a body (submit, close, cancel)
    assert len(list(_routes(app, WRITES))) >= 50


@pytest.mark.parametrize("caller", ["anonymous", "coordinator"])
def test_deep_and_nul_json_bodies_are_4xx_on_every_write_route(
    caller: str, app: FastAPI, world: World, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    headers = {**world.headers(caller), "Content-Type": JSON}
    tried = 0
    for method, path, route in _routes(app, WRITES):
        url = _url(path, world)
        takes = consumes(route)
        for body in (NESTED_ARRAYS, NESTED_OBJECTS, NUL_BODY):
            response = client.request(method, url, content=body, headers=headers)
            if takes and JSON not in takes:
                # A page or an upload does not read JSON: refused before it is parsed.
                _problem(response, 415)
                continue
            problem = _problem(response, 422)
            paths = [e["path"] for e in problem["errors"]]
            if body == NUL_BODY:
                assert paths == ["$.justification", "$.name", "$.reason"], (url, problem)
            else:
                assert paths == ["$"] and "deeper than" in problem["errors"][0]["reason"]
            tried += 1
    assert tried > 60
    _no_traceback(caplog)


def test_a_nul_is_refused_in_forms_and_query_strings_before_any_database(
    app: FastAPI, world: World, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    pages = [(m, p) for m, p, r in _routes(app, WRITES) if FORM in consumes(r)]
    assert pages
    for method, path in pages:
        response = client.request(
            method,
            _url(path, world),
            content=b"csrf_token=x&justification=cold%00nights",
            headers={**world.headers("coordinator"), "Content-Type": FORM},
        )
        assert _problem(response, 422)["errors"][0]["path"] == "$.justification"
    # A list filter compared with a text column: PostgreSQL's driver refuses the NUL.
    for caller in ("anonymous", "local_team/own"):
        response = client.get("/api/v1/needs?item_id=a%00b", headers=world.headers(caller))
        assert _problem(response, 422)["errors"][0]["path"] == "$.item_id"
    _no_traceback(caplog)


def _need_fields(world: World, **more: Any) -> dict[str, Any]:
    return {
        "item_id": world.ids["item"],
        "location_id": world.ids["location"],
        "quantity": 5,
        "need_by": "2099-01-01",
        "priority": "normal",
        **more,
    }


def test_a_need_with_a_nul_is_stored_on_neither_database(world: World, client: TestClient) -> None:
    url = f"/api/v1/rounds/{world.ids['open']}/needs"
    headers = world.headers("local_team/own")
    before = client.get(url, headers=headers).json()["total"]
    # json.dumps writes the NUL as JSON does: the escape \u0000.
    body = json.dumps(_need_fields(world, justification="cold\x00nights"))
    response = client.post(url, content=body, headers={**headers, "Content-Type": JSON})
    assert _problem(response, 422)["errors"] == [
        {"path": "$.justification", "reason": "must not contain the NUL character (U+0000)"}
    ]
    assert client.get(url, headers=headers).json()["total"] == before


@pytest.mark.parametrize(
    "media", ["text/plain", FORM, MULTIPART + "; boundary=x", "application/xml", None]
)
def test_a_json_route_refuses_a_body_of_any_other_media_type(
    media: str | None, app: FastAPI, world: World, client: TestClient
) -> None:
    json_routes = [(m, p) for m, p, r in _routes(app, WRITES) if consumes(r) == (JSON,)]
    assert len(json_routes) > 20
    for method, path in json_routes:
        headers = world.headers("coordinator")
        if media is not None:
            headers["Content-Type"] = media
        response = client.request(method, _url(path, world), content=b'{"a": 1}', headers=headers)
        problem = _problem(response, 415)
        assert problem["detail"] == "this route takes application/json", path


def test_json_is_read_where_json_is_expected(world: World, client: TestClient) -> None:
    # The rule lets the right bodies through: +json suffixes, charset parameters.
    url = f"/api/v1/rounds/{world.ids['open']}/needs"
    body = _need_fields(world)
    for media in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.post(
            url,
            content=json.dumps(body),
            headers={**world.headers("local_team/own"), "Content-Type": media},
        )
        assert response.status_code == 201, (media, response.text)


def test_a_route_without_a_body_takes_none_or_json(world: World, client: TestClient) -> None:
    need = world.ids["draft_a"]
    headers = {**world.headers("local_team/own"), "If-Match": world.etag("draft_a")}
    refused = client.post(
        f"/api/v1/needs/{need}/submit", content=b"submit", headers={**headers, "Content-Type": FORM}
    )
    assert _problem(refused, 415)["detail"] == "this route takes no body"
    done = client.post(
        f"/api/v1/needs/{need}/submit", content=b"{}", headers={**headers, "Content-Type": JSON}
    )
    assert done.status_code == 200, done.text


@pytest.mark.parametrize("spelled", ["{}.0", "+{}", "0{}", " {}", "{}e0", "{}%20"])
def test_an_id_in_a_path_is_written_in_digits_only(
    spelled: str, app: FastAPI, world: World, client: TestClient
) -> None:
    tried = 0
    for _, path, route in _routes(app, frozenset({"GET"})):
        if not _int_params(route):
            continue
        get = partial(client.get, headers=world.headers("admin"), follow_redirects=False)
        plain, odd = get(_url(path, world)), get(_url(path, world, spelled))
        # A page (no session cookie here) sends the caller to sign in, or refuses the id.
        allowed = (404, 422) if path.startswith("/api/") else (303, 400, 404)
        assert odd.status_code in allowed, (path, spelled, odd.status_code)
        tried += plain.status_code == 200
    assert tried > 10  # the plain spelling finds the rows, so the odd one was a real test


def test_depth_is_counted_outside_strings() -> None:
    assert json_depth(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == 1
    assert json_depth(b'["\\"[[[[", [[1]]]') == 3
    deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    assert json_depth(deep) == MAX_JSON_DEPTH + 1
    wide = b"[" + b",".join([b"[1]"] * 1000) + b"]"
    assert json_depth(wide) == 2
