"""``poolbuy export-all FILE`` and ``poolbuy import-all FILE``.

``app.cli`` calls ``register(subparsers)``; the handlers return the exit code
(0 done, 1 refused: not empty, other schema revision, damaged file). The
database modules are imported by the handlers, so other commands do not pay
for them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_DONE = 0
EXIT_REFUSED = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = subparsers.add_parser(
        "export-all",
        help="write every table to a portable JSON-lines file",
        description="Export the whole database (DATABASE_URL, or --url) to FILE: every "
        "table in dependency order, the audit chain exactly, runs with their documents. "
        "FILE ending in .gz is compressed. The file is written whole or not at all.",
    )
    export.add_argument("file", type=Path, metavar="FILE")
    export.add_argument("--url", help="database URL (default: DATABASE_URL or the SQLite file)")
    export.set_defaults(handler=cmd_export)

    load = subparsers.add_parser(
        "import-all",
        help="load an export-all file into an empty, migrated database",
        description="Import FILE (from `poolbuy export-all`, SQLite or PostgreSQL) into the "
        "database at DATABASE_URL (or --url), which must be empty and migrated to the same "
        "schema revision (`poolbuy db upgrade`). All or nothing; the audit chain must "
        "verify afterwards as it did at export.",
    )
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--url", help="database URL (default: DATABASE_URL or the SQLite file)")
    load.set_defaults(handler=cmd_import)


def _url(args: argparse.Namespace) -> str:
    from app.settings import get_settings

    return str(args.url or get_settings().database_url)


def _print_rows(rows: dict[str, int]) -> None:
    for table, count in rows.items():
        if count:
            print(f"  {table:<24} {count:>10,}")


def cmd_export(args: argparse.Namespace) -> int:
    from app.backup.service import BackupError, export_all

    try:
        summary = export_all(_url(args), args.file)
    except BackupError as exc:
        print(f"poolbuy: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    audit = summary.audit
    print(
        f"exported {sum(summary.rows.values()):,} rows from {summary.source} "
        f"(schema {summary.schema_revision}) to {summary.path}"
    )
    _print_rows(summary.rows)
    state = "verifies" if audit["ok"] else "DOES NOT VERIFY"
    print(f"audit chain: {audit['entries']:,} entries, {state}")
    return EXIT_DONE


def cmd_import(args: argparse.Namespace) -> int:
    from app.backup.service import BackupError, import_all

    try:
        summary = import_all(_url(args), args.file)
    except BackupError as exc:
        print(f"poolbuy: {exc}; nothing was imported", file=sys.stderr)
        return EXIT_REFUSED
    audit = summary.audit
    print(
        f"imported {sum(summary.rows.values()):,} rows from a {summary.source} export "
        f"into {summary.target} (schema {summary.schema_revision})"
    )
    _print_rows(summary.rows)
    state = "verifies" if audit["ok"] else "does not verify, as at export"
    print(f"audit chain: {audit['entries']:,} entries, {state}")
    return EXIT_DONE
