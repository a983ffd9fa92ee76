"""Request and response bodies of the agencies, users and tokens routes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from app.auth.models import AGENCY_ROLES, Role
from app.errors import describe_pattern

AGENCY_CODE = describe_pattern(r"^[A-Z][A-Z0-9-]{1,15}$", "choose an agency of the group")
# Deliberately loose: the address is an identifier here, nobody is mailed.
EMAIL = describe_pattern(
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "enter an e-mail address such as name@example.org"
)


class AgencyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"id": "IOM", "name": "International Organization for Migration"}]
        },
    )

    id: str = Field(pattern=AGENCY_CODE, description="short code, upper case")
    name: str = Field(min_length=1, max_length=200)


class AgencyRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "IOM",
                    "name": "International Organization for Migration",
                    "created_at": "2026-11-28T21:30:00Z",
                }
            ]
        },
    )

    id: str
    name: str
    created_at: dt.datetime


# The membership rule as JSON Schema, so clients (and the contract fuzzing) see it: a
# user holding a role of an agency's staff belongs to an agency.
_MEMBER_OF_AN_AGENCY: dict[str, Any] = {
    "if": {
        "properties": {"roles": {"contains": {"enum": sorted(r.value for r in AGENCY_ROLES)}}},
        "required": ["roles"],
    },
    "then": {
        "properties": {"agency_id": {"type": "string"}},
        "required": ["agency_id"],
    },
}


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "ana.rios@iom.int",
                    "name": "Ana Ríos",
                    "agency_id": "IOM",
                    "roles": ["local_team"],
                }
            ],
            **_MEMBER_OF_AN_AGENCY,
        },
    )

    email: str = Field(pattern=EMAIL, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    agency_id: str | None = Field(
        default=None,
        pattern=AGENCY_CODE,
        description="an existing agency's code; null only for platform operators. Required "
        "with a role of an agency's staff: " + ", ".join(sorted(r.value for r in AGENCY_ROLES)),
    )
    roles: list[Role] = Field(default_factory=list)


class UserUpdate(BaseModel):
    """Fields left out stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"active": False}, {"roles": ["chief_of_mission"]}]},
    )

    name: str | None = Field(default=None, min_length=1, max_length=200)
    agency_id: str | None = None
    roles: list[Role] | None = None
    active: StrictBool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "email": "ana.rios@iom.int",
                    "name": "Ana Ríos",
                    "agency_id": "IOM",
                    "roles": ["local_team"],
                    "active": True,
                    "created_at": "2026-11-28T21:30:00Z",
                }
            ]
        },
    )

    id: int
    email: str
    name: str
    agency_id: str | None
    roles: list[Role]
    active: bool
    created_at: dt.datetime

    @field_validator("roles", mode="before")
    @classmethod
    def _role_names(cls, value: Any) -> Any:
        # From the ORM the roles are UserRole rows; the API shows their names.
        return sorted(getattr(r, "role", r) for r in value)


class TokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "laptop curl", "expires_in_days": 30}]},
    )

    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int = Field(default=90, ge=1, le=365)


class TokenRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "name": "laptop curl",
                    "prefix": "pb_Xy3kQ9a",
                    "created_at": "2026-11-28T21:30:00Z",
                    "expires_at": "2026-12-28T21:30:00Z",
                    "revoked_at": None,
                    "last_used_at": None,
                }
            ]
        },
    )

    id: int
    name: str
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenCreated(TokenRead):
    """Shown once: only the token's hash is kept, it cannot be read again."""

    token: str = Field(description="send as 'Authorization: Bearer <token>'")
