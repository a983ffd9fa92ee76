"""``poolbuy demo``, and the demo half of ``poolbuy serve --demo``.

``app.cli`` calls ``register(subparsers)``; ``serve --demo`` calls ``prepare_demo``
after migrating and before uvicorn starts. The database modules are imported by
the handlers, so other commands do not pay for them.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.demo.loader import DemoToken

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="load the Panama demo group (agencies, users, catalogue, an open round)",
        description="Load the Panama inter-agency demo group into the database: the eight "
        "agencies, a local team member and a chief of mission each, a technical specialist, "
        "a coordinator and an admin, the catalogue with suppliers, offers and routes, and an "
        "open round with submitted needs. Only what is missing is created: a second run "
        "changes nothing and says so.",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="which generated demo round to load (only matters on the first load)",
    )
    parser.add_argument(
        "--tokens",
        action="store_true",
        help="also create and print a new API token for every demo user",
    )
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"the API address printed with the tokens (default: {DEFAULT_BASE_URL})",
    )
    parser.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from app.settings import get_settings

    return prepare_demo(
        seed=args.seed,
        tokens=args.tokens,
        base_url=args.base_url,
        migrate=get_settings().auto_migrate,
    )


def serve_url(host: str, port: int) -> str:
    """The address a person on this machine reaches ``poolbuy serve --host HOST`` at."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def prepare_demo(
    *,
    seed: int = 0,
    tokens: bool = True,
    base_url: str = DEFAULT_BASE_URL,
    migrate: bool = False,
    out: IO[str] | None = None,
) -> int:
    """Load the demo group if anything of it is missing, print what happened and, with
    ``tokens``, a new token per demo user. Returns the exit code (0 done, 1 failed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from app.db import get_session_factory, load_models, upgrade_database
    from app.demo.loader import issue_demo_tokens, load_demo
    from app.errors import DomainError
    from app.settings import get_settings

    stream = out or sys.stdout
    load_models()
    url = get_settings().database_url
    if migrate:
        upgrade_database(url)
    with get_session_factory()() as session:
        try:
            summary = load_demo(session, seed=seed)
            issued = issue_demo_tokens(session) if tokens else []
        except (OperationalError, ProgrammingError) as exc:
            where = make_url(url).render_as_string(hide_password=True)
            print(
                f"poolbuy: cannot load the demo into {where}: {exc.orig}\n"
                "Is the schema there? `poolbuy db upgrade` makes it.",
                file=sys.stderr,
            )
            return 1
        except DomainError as exc:
            print(f"poolbuy: the demo was refused: {exc.detail or exc.title}", file=sys.stderr)
            for issue in exc.errors:
                print(f"  {issue.path}: {issue.reason}", file=sys.stderr)
            return 1
    print(summary.describe(), file=stream)
    if issued:
        print(file=stream)
        print(format_tokens(issued, base_url=base_url, round_id=summary.round_id), file=stream)
    stream.flush()
    return 0


def format_tokens(tokens: Sequence[DemoToken], *, base_url: str, round_id: int) -> str:
    """Who is who, then shell lines to paste: BASE, ROUND and one TOKEN_* per demo user.

    The pasted block holds nothing but ``export`` lines: an interactive zsh (the
    macOS default) would try to run a ``#`` comment line as a command.
    """
    expires = min(t.expires_at for t in tokens) if tokens else None
    header = ["variable", "name", "agency", "role", "e-mail"]
    rows = [
        [
            t.person.variable,
            t.person.name,
            t.person.agency_id or "-",
            t.person.role.value,
            t.person.email,
        ]
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [
        f"Demo users, each with a new API token (valid until {expires:%Y-%m-%d}):"
        if expires
        else "Demo users:",
        line(header),
        *(line(row) for row in rows),
        "",
        f"API at {base_url} (docs at {base_url}/docs). Paste these lines into your shell; "
        "docs/walkthrough.md uses them:",
        "",
        f"export BASE={base_url}",
        f"export ROUND={round_id}",
        *(f"export {t.person.variable}={t.token}" for t in tokens),
    ]
    return "\n".join(lines)
