"""Every error a person can meet is a sentence, never the validation library's own words.

The API's request bodies and the web's forms are walked from the access matrix's calls
(``tests/security/test_access_matrix.py``: every route, with a body that works and a
caller allowed to send it). Each field of each body is then sent wrong, in the ways
its schema (the OpenAPI document) says it can be wrong: a word for a number, a
fraction for a whole number, a number far too large or negative, text too long, a
value no list allows, a field the body does not have, nothing at all. Every problem
answered must read as ``app.errors.field_issues`` words it, never as Pydantic does.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.errors import field_issues, plain_reason
from tests.security.test_access_matrix import (
    API,
    ROUTES,
    WEB_ROUTES,
    Call,
    _browser,
    _fill,
)
from tests.security.world import CALLERS, World, build_world, undone

pytestmark = pytest.mark.integration

# Pydantic's and FastAPI's phrasings: none may reach a reader.
RAW = re.compile(
    r"Input should|String should|Field required|Extra inputs|List should|Value error|"
    r"Decimal input|unable to parse|Assertion failed|should have (at least|at most)|"
    r"Value should|Tuple should|Dictionary should|Object has no attribute|Input is a valid|"
    r"valid (integer|number|decimal|boolean|string|list|dictionary)\b"
)


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    if "anyOf" in schema:
        # Optional[X]: the X.
        branches = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(branches) == 1:
            return _resolve(branches[0], document)
    return schema


def wrong_values(schema: dict[str, Any]) -> list[Any]:
    """Values ``schema`` refuses, in the ways a person gets a field wrong."""
    kind = schema.get("type")
    if "enum" in schema:
        return ["no-such-choice", 7]
    if kind == "integer":
        return ["twelve", 2.5, -(10**12), 10**15, True]
    if kind == "number":
        return ["twelve", -(10**12), 1e300]
    if kind == "string":
        fmt = schema.get("format", "")
        values: list[Any] = [12345, "x" * 5000, "", "-5", "99999999999"]
        if "date" in fmt:
            values += ["31/12/2026", "2026-13-45"]
        return values
    if kind == "boolean":
        return ["maybe", 3]
    if kind == "array":
        return ["a list, please", [], [None]]
    if kind == "object":
        return ["an object, please", {"no_such_field": 1}]
    return ["?", None]


def mutations(body: dict[str, Any], schema: dict[str, Any], document: dict[str, Any]) -> list[Any]:
    resolved = _resolve(schema, document)
    out: list[Any] = [{}, {**body, "no_such_field": 1}, [body], "text"]
    for name, prop in (resolved.get("properties") or {}).items():
        prop = _resolve(prop, document)
        out += [{**body, name: value} for value in wrong_values(prop)]
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            item = _resolve(prop["items"], document)
            for value in wrong_values(item)[:2]:
                out.append({**body, name: [value]})
            if item.get("type") == "object" and isinstance(body.get(name), list) and body[name]:
                first = body[name][0]
                for sub, sub_schema in (item.get("properties") or {}).items():
                    for value in wrong_values(_resolve(sub_schema, document))[:3]:
                        out.append({**body, name: [{**first, sub: value}]})
    return out


def _body_schema(document: dict[str, Any], key: str) -> dict[str, Any] | None:
    method, path = key.split(" ", 1)
    operation = document["paths"].get(path, {}).get(method.lower(), {})
    content = (operation.get("requestBody") or {}).get("content", {})
    return (content.get("application/json") or {}).get("schema")


def _allowed(call: Call) -> str | None:
    return next((c for c in CALLERS if 200 <= call.status_for(c) < 300), None)


API_BODIES = sorted(
    key
    for key, call in ROUTES.items()
    if key.split(" ", 1)[0] in {"POST", "PUT", "PATCH"} and isinstance(call.json, dict)
)
WEB_FORMS = sorted(
    key
    for key, call in WEB_ROUTES.items()
    if key.split(" ", 1)[0] == "POST" and call.form and key != "POST /sign-in"
)


def test_the_conversion_words_what_pydantic_reports() -> None:
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    class Body(BaseModel):
        model_config = ConfigDict(extra="forbid")
        quantity: int = Field(gt=0, le=1_000_000_000)
        role: str = Field(pattern=r"^[a-z]+$")

    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"quantity": 99999999999, "role": "A1", "x": 1})
    issues = {i.path: i.reason for i in field_issues(caught.value.errors())}
    assert issues == {
        "$.quantity": "must be at most 1,000,000,000",
        "$.role": "is not in the expected form",
        "$.x": "is not a field here: remove it (check its spelling)",
    }
    assert plain_reason({"type": "int_parsing", "msg": "Input should be a valid integer"}) == (
        "enter a whole number"
    )
    # A kind no rule names still reads as a sentence.
    assert plain_reason({"type": "new_kind", "msg": "Input should be shiny"}) == "must be shiny"
    assert not RAW.search(plain_reason({"type": "new_kind", "msg": "Something odd"}))


@pytest.mark.parametrize("key", API_BODIES)
def test_every_api_body_error_is_worded_for_people(
    key: str, session: Session, client: TestClient
) -> None:
    call = ROUTES[key]
    caller = _allowed(call)
    if caller is None:
        pytest.skip(f"{key}: nobody may send it")
    document = client.get("/openapi.json").json()
    schema = _body_schema(document, key)
    if schema is None:
        pytest.skip(f"{key}: no JSON body")
    world = build_world(session, client)
    method = key.split(" ", 1)[0]
    body = _fill(call.json, world.ids)
    raw: list[str] = []
    refused = 0
    for bad in mutations(body, schema, document):
        with undone(session):
            headers = world.headers(caller)
            if call.if_match:
                headers["If-Match"] = world.etag(call.if_match)
            response = client.request(
                method, API + _fill(call.path, world.ids), json=bad, headers=headers
            )
        if response.status_code != 422:
            continue
        refused += 1
        for error in response.json().get("errors", []):
            if RAW.search(error["reason"]) or not error["path"].startswith("$"):
                raw.append(f"{str(bad)[:80]} -> {error}")
    assert refused, f"{key}: no wrong body was refused"
    assert not raw, f"{key}\n  " + "\n  ".join(raw[:20])


ERROR_TEXT = re.compile(r'class="[^"]*error[^"]*"[^>]*>(.*?)</', re.S)


def _web_mutations(form: dict[str, str]) -> list[dict[str, str]]:
    out = []
    for name in form:
        for value in ("", "-5", "99999999999", "twelve", "2.5", "x" * 300, "31/12/2026"):
            out.append({**form, name: value})
    return out


@pytest.mark.parametrize("key", WEB_FORMS)
def test_every_web_form_error_is_worded_for_people(
    key: str, session: Session, client: TestClient, app: FastAPI
) -> None:
    call = WEB_ROUTES[key]
    caller = next((c for c in CALLERS if c != "anonymous" and call.status_for(c) < 400), None)
    if caller is None:
        pytest.skip(f"{key}: nobody may send it")
    world: World = build_world(session, client)
    raw: list[str] = []
    for form in _web_mutations(_fill(call.form, world.ids)):
        with undone(session):
            browser, csrf = _browser(app, world, caller)
            data = {"csrf_token": csrf, **form}
            if call.etag_field:
                data["etag"] = world.etag(call.etag_field)
            response = browser.post(_fill(call.path, world.ids), data=data)
        if response.status_code < 400:
            continue
        text = html.unescape(response.text)
        if match := RAW.search(text):
            start = max(0, match.start() - 80)
            raw.append(f"{form} -> ...{text[start : match.end() + 80]}...")
    assert not raw, f"{key}\n  " + "\n  ".join(raw[:10])
