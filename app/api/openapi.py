"""The RFC 9457 problem schema for OpenAPI, so every route documents its errors.

How a domain route uses it::

    from app.api.openapi import problem_responses

    @router.post("/rounds", status_code=201, response_model=RoundRead,
                 responses=problem_responses(401, 403, 409, 422))
    def create_round(...): ...
"""

from __future__ import annotations

from typing import Any

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
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": {
                PROBLEM_JSON: {
                    "schema": PROBLEM_SCHEMA,
                    **({"example": _EXAMPLE} if status == 422 else {}),
                }
            },
        }
        for status in statuses
    }
