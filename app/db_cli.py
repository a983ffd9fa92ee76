"""``poolbuy db upgrade``: bring the database to the latest schema.

``app.cli`` calls ``register(subparsers)``; the handler returns the exit code.
The database modules are imported by the handler, not here, so that other
commands (``poolbuy solve``) do not pay for them.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser("db", help="database schema")
    commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = commands.add_parser(
        "upgrade",
        help="apply every pending migration",
        description="Create or migrate the database named by DATABASE_URL "
        "(default: the SQLite file var/poolbuy.db, created with its folder).",
    )
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    upgrade.add_argument("--url", help="database URL (default: DATABASE_URL or the SQLite file)")
    upgrade.set_defaults(handler=cmd_upgrade)


def cmd_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from app.db import upgrade_database
    from app.settings import get_settings

    url = args.url or get_settings().database_url
    upgrade_database(url, args.revision)
    # Never echo a password that may be in the URL.
    print(f"database {make_url(url).render_as_string(hide_password=True)} is at {args.revision}")
    return 0
