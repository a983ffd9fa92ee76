"""The RFC 9457 problem schema for OpenAPI, so every route documents its errors.

How a domain route uses it::

    from app.api.openapi import problem_responses

    @router.post("/rounds", status_code=201, response_model=RoundRead,
                 responses=problem_responses(401, 403, 409, 422))
    def create_round(...): ...
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.errors import PROBLEM_JSON

# Written out rather than generated from a model: an inline schema must not
# carry "$defs" references, which OpenAPI would resolve against the document root.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "reason"],
                "properties": {
                    "path": {"type": "string", "example": "$.needs[2].quantity"},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}

_EXAMPLE = {
    "type": "about:blank",
    "title": "Invalid input",
    "status": 422,
    "detail": "1 problem found; nothing was changed",
    "instance": "/api/v1/users",
    "errors": [{"path": "$.email", "reason": "String should match pattern"}],
}

_DESCRIPTIONS = {
    400: "Bad request",
    401: "No valid API token (missing, malformed, unknown, expired or revoked)",
    403: "The token's user lacks the role or the right to this object",
    404: "Not found, or not visible to this user",
    409: "Conflicts with the current state",
    412: "If-Match does not match the current ETag: read again",
    413: "Request body too large",
    422: "Invalid input; every problem is listed",
    428: "If-Match is required on this update",
    429: "Too many requests: wait for Retry-After seconds",
}


def problem_responses(
    *statuses: int, beyond_schema: str | None = None
) -> dict[int | str, dict[str, Any]]:
    """Problem-details responses for ``statuses``.

    ``beyond_schema``: what a 422 also refuses that the request schema cannot state
    (a reference to a record that must exist, the clock, an order across entries), so
    a client reading the schema learns every reason a well-formed request is refused.
    """
    described = dict(_DESCRIPTIONS)
    if beyond_schema:
        described[422] = f"{_DESCRIPTIONS[422]}. Beyond the schema, also refused: {beyond_schema}"
    return {
        status: {
            "description": described.get(status, "Error"),
            "content": {
                PROBLEM_JSON: {
                    "schema": PROBLEM_SCHEMA,
                    **({"example": _EXAMPLE} if status == 422 else {}),
                }
            },
        }
        for status in statuses
    }


_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
# FastAPI's own 422 body, which the service never sends (app.errors answers problem details).
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def complete_document(document: dict[str, Any], *, max_page_size: int) -> dict[str, Any]:
    """Make the OpenAPI document say what every route really answers.

    Applied once to the whole document (``app.main``), so no route can forget:

    * 422 is problem details, not FastAPI's ``HTTPValidationError``, and every
      operation that takes parameters or a body documents it;
    * an operation with a body documents 400 (a body that cannot be parsed at all,
      e.g. broken multipart), 413 (``app.middleware.BodySizeLimit``) and 415 (a media
      type it does not read, ``app.api.bodies``);
    * ``If-Match`` is required where it is taken: without it the answer is 428;
    * ``limit`` says its maximum, this deployment's ``max_page_size``;
    * every operation behind a token documents 429 (``app.auth.ratelimit``).
    """
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            for parameter in parameters:
                if parameter.get("in") == "header" and parameter.get("name") in HEADER_SCHEMAS:
                    described = parameter.get("schema", {})
                    parameter["schema"] = {
                        **{
                            k: described[k]
                            for k in ("title", "description", "examples")
                            if k in described
                        },
                        **HEADER_SCHEMAS[parameter["name"]],
                    }
                if parameter.get("in") == "header" and parameter.get("name") == "If-Match":
                    parameter["required"] = True
                if parameter.get("in") == "query" and parameter.get("name") == "limit":
                    _set_maximum(parameter.get("schema", {}), max_page_size)
            statuses: list[int] = []
            if parameters or "requestBody" in operation:
                statuses.append(422)
            if "requestBody" in operation:
                statuses += [400, 413, 415]
            if operation.get("security") or "401" in responses:
                statuses.append(429)
            for status in statuses:
                current = responses.get(str(status))
                if current is None or PROBLEM_JSON not in current.get("content", {}):
                    responses[str(status)] = problem_responses(status)[status]
    schemas = document.get("components", {}).get("schemas", {})
    _json_schema_bounds(document)
    for name in NULL_TAKES_DEFAULT:
        for prop in schemas.get(name, {}).get("properties", {}).values():
            _allow_null(prop)
    for name, fields in NULL_IS_EMPTY.items():
        properties = schemas.get(name, {}).get("properties", {})
        for field in fields:
            _allow_null(properties[field])  # a KeyError: the model lost the field
    _allow_null_settings(document)
    text = repr(document.get("paths", {}))
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if f"#/components/schemas/{name}'" not in text:
            schemas.pop(name, None)
    return document


# What the service takes in these headers, as it checks them (a header is never null):
# If-Match: at least one tag, so something that is not a comma or a blank (an empty list
# is "no If-Match", 428); Idempotency-Key: 1 to 255 characters that are printable
# (str.isprintable) among those a header can carry (Latin-1): ASCII but controls, and
# Latin-1 letters and signs but no-break space (A0) and soft hyphen (AD).
HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    "If-Match": {"type": "string", "pattern": r"[^\s,]"},
    "Idempotency-Key": {
        "type": "string",
        "pattern": "^[\\x20-\\x7e\\xa1-\\xac\\xae-\\xff]{1,255}$",
    },
}

# Contract v1: "a null setting takes its default", in a problem document's settings and
# in a round's. The models drop the nulls before validating, so the schema must allow them.
# Lists of a problem document that the solver reads as empty when null
# (``solver.problem._empty_for_null``): the schema says null is taken.
NULL_IS_EMPTY: dict[str, tuple[str, ...]] = {"ProblemV1Agency": ("excluded_suppliers",)}
NULL_TAKES_DEFAULT = (
    "RoundSettings",
    "RoundPriorityWeights",
    "ProblemV1Settings",
    "ProblemV1PriorityWeights",
)
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _json_schema_bounds(node: Any) -> None:
    """Pydantic writes a bound placed after a validator as ``ge``/``le`` (not JSON Schema);
    spell it as JSON Schema so clients and validators see the range the API enforces."""
    if isinstance(node, dict):
        for short, keyword in _BOUNDS.items():
            value = node.get(short)
            if isinstance(value, int | float) and not isinstance(value, bool):
                node.setdefault(keyword, node.pop(short))
        for value in node.values():
            _json_schema_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _json_schema_bounds(value)


def _allow_null(prop: dict[str, Any]) -> None:
    variants = prop.get("anyOf")
    if variants is not None:
        if {"type": "null"} not in variants:
            variants.append({"type": "null"})
        return
    typed = {k: prop.pop(k) for k in list(prop) if k not in ("title", "description", "default")}
    prop["anyOf"] = [typed, {"type": "null"}]


def _allow_null_settings(document: dict[str, Any]) -> None:
    # The problem document's own ``settings`` (POST /solve's body, inline): null is
    # "every setting left null".
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                settings = media.get("schema", {}).get("properties", {}).get("settings")
                if isinstance(settings, dict) and "ProblemV1Settings" in repr(settings):
                    _allow_null(settings)


def _set_maximum(schema: dict[str, Any], maximum: int) -> None:
    for variant in schema.get("anyOf", [schema]):
        if variant.get("type") == "integer":
            variant["maximum"] = maximum


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body parsed by a dependency (``app.catalogue.deps.parse_body``).

    The schema goes to components under the model's name (``app.main`` moves the
    ``$defs`` there); its examples become the request examples.
    """
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    examples = schema.get("examples", [])
    name = model.__name__
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "$ref": f"#/components/schemas/{name}",
                        "$defs": {**definitions, name: schema},
                    },
                    "examples": {
                        f"example-{i + 1}": {"value": value} for i, value in enumerate(examples)
                    },
                }
            },
        }
    }
