"""Agencies, users, roles and API tokens. Each function that changes something commits."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from app.audit.service import record, snapshot
from app.auth.models import AGENCY_ROLES, Agency, ApiToken, Role, User, UserRole
from app.auth.schemas import AgencyCreate, AgencyRead, UserCreate, UserRead, UserUpdate
from app.db import touch, utcnow
from app.errors import Conflict, FieldIssue, InvalidInput, NotFound, Unauthorized

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency

TOKEN_PREFIX = "pb_"
# secrets.token_urlsafe(32): 32 random bytes, 43 URL-safe characters.
_TOKEN_RE = re.compile(r"^pb_[A-Za-z0-9_-]{43}$")
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365
# last_used_at is refreshed at most this often, so reads do not all become writes.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


# ---------------------------------------------------------------------- agencies


def agency_url(agency: Agency) -> str:
    return f"/api/v1/agencies/{agency.id}"


def user_url(user: User) -> str:
    return f"/api/v1/users/{user.id}"


def get_agency(session: Session, agency_id: str) -> Agency:
    agency = session.get(Agency, agency_id)
    if agency is None:
        raise NotFound(f"agency {agency_id}")
    return agency


def agencies_query() -> sa.Select[Agency]:
    return sa.select(Agency).order_by(Agency.id)


def create_agency(
    session: Session, actor: User | None, data: AgencyCreate, idem: Idempotency | None = None
) -> Agency:
    if session.get(Agency, data.id) is not None:
        raise Conflict(f"agency {data.id} already exists")
    agency = Agency(id=data.id, name=data.name)
    session.add(agency)
    _flush_or_conflict(session, f"agency {data.id} already exists")
    record(session, actor, "agency.create", "agency", agency.id, None, snapshot(agency))
    if idem is not None:
        idem.save(201, AgencyRead.model_validate(agency), row=agency, location=agency_url(agency))
    session.commit()
    return agency


# ------------------------------------------------------------------------- users


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id}")
    return user


def get_user_by_email(session: Session, email: str) -> User:
    user = session.scalar(sa.select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"user {email}")
    return user


def users_query(
    agency_id: str | None = None, role: Role | None = None, active: bool | None = None
) -> sa.Select[User]:
    stmt = sa.select(User).order_by(User.id)
    if agency_id is not None:
        stmt = stmt.where(User.agency_id == agency_id)
    if role is not None:
        stmt = stmt.where(User.roles.any(UserRole.role == role))
    if active is not None:
        stmt = stmt.where(User.active == active)
    return stmt


def _check_membership(
    session: Session,
    agency_id: str | None,
    roles: set[Role] | frozenset[Role],
    issues: list[FieldIssue],
) -> None:
    if agency_id is not None and session.get(Agency, agency_id) is None:
        issues.append(FieldIssue("$.agency_id", f"no agency {agency_id!r}"))
    if agency_id is None and roles & AGENCY_ROLES:
        needing = ", ".join(sorted(roles & AGENCY_ROLES))
        issues.append(FieldIssue("$.agency_id", f"required for the roles {needing}"))


def create_user(
    session: Session, actor: User | None, data: UserCreate, idem: Idempotency | None = None
) -> User:
    """Create a user with roles. ``actor`` None is the operator's CLI."""
    email = normalise_email(data.email)
    roles = set(data.roles)
    issues: list[FieldIssue] = []
    _check_membership(session, data.agency_id, roles, issues)
    if issues:
        raise InvalidInput(issues)
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(
        email=email,
        name=data.name,
        agency_id=data.agency_id,
        roles=[UserRole(role=r) for r in sorted(roles)],
    )
    session.add(user)
    _flush_or_conflict(session, f"a user with e-mail {email} already exists")
    record(session, actor or "cli", "user.create", "user", user.id, None, _user_snapshot(user))
    if idem is not None:
        idem.save(201, UserRead.model_validate(user), row=user, location=user_url(user))
    session.commit()
    return user


def update_user(
    session: Session, actor: User, user_id: int, data: UserUpdate, if_match: IfMatch
) -> User:
    user = get_user(session, user_id)
    if_match.check(user)
    before = _user_snapshot(user)
    changes = data.model_dump(exclude_unset=True)
    roles = set(data.roles) if data.roles is not None else user.role_set
    agency_id = changes.get("agency_id", user.agency_id)
    issues: list[FieldIssue] = []
    _check_membership(session, agency_id, roles, issues)
    if user.id == actor.id and (data.active is False or Role.admin not in roles):
        issues.append(FieldIssue("$", "an admin cannot deactivate or demote themselves"))
    if issues:
        raise InvalidInput(issues)
    if data.name is not None:
        user.name = data.name
    if "agency_id" in changes:
        user.agency_id = data.agency_id
    if data.active is not None:
        user.active = data.active
    if data.roles is not None:
        user.roles = [r for r in user.roles if r.role in roles] + [
            UserRole(role=r) for r in sorted(roles - user.role_set)
        ]
        touch(user)
    session.flush()
    record(session, actor, "user.update", "user", user.id, before, _user_snapshot(user))
    session.commit()
    return user


def _user_snapshot(user: User) -> dict[str, object]:
    return {**snapshot(user), "roles": sorted(user.role_set)}


# ------------------------------------------------------------------------ tokens


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    actor: User | None,
    owner: User,
    name: str,
    expires_in_days: int = DEFAULT_TOKEN_DAYS,
) -> tuple[ApiToken, str]:
    """Create a token for ``owner``; returns the row and the plain token, shown once."""
    if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise InvalidInput(
            [FieldIssue("$.expires_in_days", f"must be between 1 and {MAX_TOKEN_DAYS}")]
        )
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=owner.id,
        name=name,
        token_hash=hash_token(plain),
        prefix=plain[:10],
        created_at=now,
        expires_at=now + dt.timedelta(days=expires_in_days),
    )
    session.add(token)
    session.flush()
    after = _token_snapshot(token)
    record(session, actor or "cli", "token.create", "api_token", token.id, None, after)
    session.commit()
    return token, plain


def tokens_query(owner: User) -> sa.Select[ApiToken]:
    return sa.select(ApiToken).where(ApiToken.user_id == owner.id).order_by(ApiToken.id)


def revoke_token(session: Session, actor: User, token_id: int) -> ApiToken:
    """Revoke one's own token, or anyone's as an admin. Revoking twice is harmless."""
    token = session.get(ApiToken, token_id)
    # Someone else's token is "not found", not "forbidden": ids are not to be probed.
    if token is None or (token.user_id != actor.id and not actor.has_role(Role.admin)):
        raise NotFound(f"token {token_id}")
    if token.revoked_at is None:
        before = _token_snapshot(token)
        token.revoked_at = utcnow()
        session.flush()
        after = _token_snapshot(token)
        record(session, actor, "token.revoke", "api_token", token.id, before, after)
        session.commit()
    return token


def _token_snapshot(token: ApiToken) -> dict[str, object]:
    # The hash stays out of the log; the log is readable by more people than the table.
    return snapshot(token, exclude=("token_hash", "last_used_at"))


# authenticate's query, built once: every request runs it.
_TOKEN_LOOKUP = (
    sa.select(
        User,
        ApiToken.id,
        ApiToken.token_hash,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
    )
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == sa.bindparam("digest"))
    .options(joinedload(User.roles))
)


def authenticate(session: Session, presented: str) -> User:
    """The active user a bearer token belongs to, or Unauthorized saying why not."""
    if not _TOKEN_RE.fullmatch(presented):
        raise Unauthorized("malformed token: expected 'pb_' followed by 43 characters")
    digest = hash_token(presented)
    # One query for the token, its user, the user's agency and roles: every request
    # starts here, and three round trips (the token, then its user, then the roles)
    # were a tenth of a need's submission. The token is read as columns, not as a row
    # of the session: loading it as an entity cost a fifth of this function.
    found = session.execute(_TOKEN_LOOKUP, {"digest": digest}).unique().one_or_none()
    # The lookup is by an indexed hash; compare_digest keeps the final check
    # constant-time all the same.
    if found is None or not hmac.compare_digest(found.token_hash, digest):
        raise Unauthorized("unknown token")
    user, token_id = found[0], found.id
    now = utcnow()
    if found.revoked_at is not None:
        raise Unauthorized("token revoked")
    if found.expires_at <= now:
        raise Unauthorized("token expired")
    if not user.active:
        raise Unauthorized("user deactivated")
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
        # A plain UPDATE: it must not bump the token's version (two requests
        # with one token would otherwise conflict) and is committed at once so
        # the lock is not held through the request.
        session.execute(
            sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now),
            execution_options={"synchronize_session": False},
        )
        session.commit()
    return user


def _flush_or_conflict(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # A concurrent request created the same thing between our check and our insert.
        raise Conflict(message) from exc
