"""OWASP API9:2023 Improper Inventory Management: the committed OpenAPI snapshot.

``tests/data/openapi.json`` is the API as reviewed: every path, operation, parameter,
body and response. The app's document (default settings) must equal it, so an API
change (a new route, a new field, a removed response) shows in review as a diff of this
file and cannot slip in unnoticed. After an intended change, refresh it on purpose::

    .venv/bin/python -m tests.security.test_openapi_snapshot

and commit the new ``tests/data/openapi.json`` with the change.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.main import create_app
from app.settings import Settings

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "openapi.json"
REFRESH = "python -m tests.security.test_openapi_snapshot"


@cache
def current_document() -> dict[str, Any]:
    # Default settings, whatever the environment says (the page-size maximum is in it).
    return create_app(Settings.model_construct()).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _operations(document: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in document.get("paths", {}).items()
        for method in item
    }


@pytest.mark.unit
def test_the_api_matches_the_committed_snapshot() -> None:
    assert SNAPSHOT.exists(), f"no snapshot: create it with `.venv/bin/{REFRESH}`"
    committed = json.loads(SNAPSHOT.read_text())
    current = current_document()
    if render(current) == render(committed):
        return
    added = sorted(_operations(current) - _operations(committed))
    removed = sorted(_operations(committed) - _operations(current))
    changed = sorted(
        op
        for op in _operations(current) & _operations(committed)
        if json.dumps(_op(current, op), sort_keys=True)
        != json.dumps(_op(committed, op), sort_keys=True)
    )
    pytest.fail(
        "the API differs from tests/data/openapi.json "
        f"(operations added: {added or 'none'}; removed: {removed or 'none'}; "
        f"changed: {changed or 'none; components or metadata changed'}). "
        f"If the change is intended, refresh the snapshot with `.venv/bin/{REFRESH}` "
        "and commit it with the change, so the review sees the API diff."
    )


def _op(document: dict[str, Any], key: str) -> Any:
    method, path = key.split(" ", 1)
    return document["paths"][path][method.lower()]


@pytest.mark.unit
def test_every_operation_is_documented() -> None:
    document = current_document()
    for key in sorted(_operations(document)):
        operation = _op(document, key)
        assert operation.get("summary"), f"{key}: no summary"
        responses = operation.get("responses", {})
        assert any(code.startswith("2") for code in responses), f"{key}: no success response"
        if key.startswith(("POST", "PUT", "PATCH", "DELETE")) or operation.get("security"):
            assert "401" in responses, f"{key}: 401 not documented"
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            variants = schema.get("anyOf", [schema])
            for variant in variants:
                if variant.get("type") == "integer":
                    assert "maximum" in variant, f"{key}: {parameter['name']} has no maximum"


@pytest.mark.unit
def test_only_the_api_is_in_the_document() -> None:
    paths = current_document()["paths"]
    assert all(path.startswith("/api/v1/") or path == "/healthz" for path in paths), [
        p for p in paths if not p.startswith("/api/v1/")
    ]


if __name__ == "__main__":
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(render(current_document()))
    print(f"wrote {SNAPSHOT}")
