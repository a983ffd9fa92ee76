"""``poolbuy users create`` and ``poolbuy tokens create``, for operators.

``app.cli`` calls ``register(subparsers)``; each handler returns the exit code
(0 done, 1 refused). The first admin is made here, as no token exists yet to
call the API with::

    poolbuy users create --email admin@example.org --name Admin --role admin
    poolbuy tokens create --email admin@example.org --name bootstrap --days 7

Handlers import the database modules themselves, so that other commands
(``poolbuy solve``) do not pay for them.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.errors import DomainError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = subparsers.add_parser("users", help="user accounts")
    user_commands = users.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    create_user = user_commands.add_parser("create", help="create a user with roles")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--name", required=True)
    create_user.add_argument("--agency", help="agency code, e.g. IOM (must exist)")
    create_user.add_argument(
        "--role",
        dest="roles",
        action="append",
        default=[],
        help="local_team, technical_specialist, chief_of_mission, coordinator or admin; "
        "repeat for several",
    )
    create_user.set_defaults(handler=cmd_create_user)

    tokens = subparsers.add_parser("tokens", help="API tokens")
    token_commands = tokens.add_subparsers(dest="tokens_command", metavar="COMMAND", required=True)
    create_token = token_commands.add_parser(
        "create", help="create a token for a user and print it (shown once)"
    )
    create_token.add_argument("--email", required=True, help="the user the token is for")
    create_token.add_argument("--name", default="cli", help="what the token is for")
    create_token.add_argument("--days", type=int, default=90, help="days until it expires")
    create_token.set_defaults(handler=cmd_create_token)


def _fail(error: DomainError) -> int:
    print(f"error: {error.detail or error.title}", file=sys.stderr)
    for issue in error.errors:
        print(f"  {issue.path}: {issue.reason}", file=sys.stderr)
    return 1


def cmd_create_user(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.auth import service
    from app.auth.schemas import UserCreate
    from app.db import get_session_factory, load_models
    from app.errors import DomainError, InvalidInput, field_issues

    load_models()
    try:
        data = UserCreate(email=args.email, name=args.name, agency_id=args.agency, roles=args.roles)
    except ValidationError as exc:
        issues = field_issues(exc.errors())
        return _fail(InvalidInput(issues))
    with get_session_factory()() as session:
        try:
            user = service.create_user(session, None, data)
        except DomainError as exc:
            return _fail(exc)
        roles = ", ".join(sorted(user.role_set)) or "no roles"
        print(f"user {user.id} {user.email} ({user.agency_id or 'no agency'}; {roles})")
    return 0


def cmd_create_token(args: argparse.Namespace) -> int:
    from app.auth import service
    from app.db import get_session_factory, load_models
    from app.errors import DomainError

    load_models()
    with get_session_factory()() as session:
        try:
            user = service.get_user_by_email(session, args.email)
            token, plain = service.create_token(session, None, user, args.name, args.days)
        except DomainError as exc:
            return _fail(exc)
        expires = f"{token.expires_at:%Y-%m-%d}"
        print(f"# token {token.id} for {user.email}, expires {expires}", file=sys.stderr)
        # Only the token on stdout, so `TOKEN=$(poolbuy tokens create ...)` works.
        print(plain)
    return 0
