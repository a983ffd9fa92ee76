"""Export every table to one portable file, and import it into an empty database.

The file is JSON lines (UTF-8; gzip when its name ends in ``.gz``), written in
one consistent read of the source database:

* line 1, the header: ``{"format": "poolbuy-export", "format_version": 1,
  "schema_revision": ..., "source": "postgresql" | "sqlite", "exported_at": ...,
  "audit": {"ok": ..., "entries": ..., "head_seq": ...}}``;
* for each table, in dependency order (a row's foreign keys point to tables
  written before it): ``{"table": NAME, "columns": [...]}`` followed by one JSON
  array per row, ordered by primary key;
* the footer ``{"end": true, "rows": {TABLE: COUNT, ...}}``: a file cut short
  has none and is refused.

Values are written in a form both databases read back exactly: instants as ISO
8601 in UTC with microseconds, dates as ISO dates, money (``NUMERIC``) as
decimal strings, enums by value, JSON columns as JSON, floats by their shortest
repr. So the audit chain's hashes, which cover ``occurred_at`` to the
microsecond and the entries' JSON, still verify after a restore, whatever the
two databases are. Tokens travel as the hashes the database holds; the plain
tokens were never stored.

An import goes into an EMPTY database migrated to the same schema revision as
the dump, in one transaction: if anything fails (a foreign key, a truncated
file, an audit chain that does not verify as it did at export), nothing is left
behind. "Empty" means: nothing but the rows a fresh migration itself inserts
(the audit chain's head, the scheduler's lease), found by migrating a
throw-away SQLite database to the same revision; those rows are replaced by the
dump's. On PostgreSQL the id sequences are moved past the imported ids.

Both run through SQLAlchemy Core on the models' tables (``Base.metadata``), so
a table added by a later migration is exported and imported without a change
here; a table in the database that the models do not know is refused rather
than silently left out.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.audit.service import verify_chain
from app.db import Base, bulk_insert, load_models, make_engine, upgrade_database

FORMAT = "poolbuy-export"
FORMAT_VERSION = 1
# Rows per INSERT batch and per fetch: large enough for speed, small enough that a
# table of run documents (each a few MB) is never held whole in memory.
BATCH_ROWS = 500
ALEMBIC_TABLE = "alembic_version"


class BackupError(Exception):
    """An export or import that cannot be done; the message tells the operator why."""


@dataclass
class ExportSummary:
    path: Path
    source: str
    schema_revision: str
    rows: dict[str, int]
    audit: dict[str, Any]


@dataclass
class ImportSummary:
    path: Path
    target: str
    source: str
    schema_revision: str
    rows: dict[str, int] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------- values


def _kind(column: sa.Column[Any]) -> str:
    """How a column's values are written: one of json, enum, instant, date, decimal, bytes,
    plain."""
    type_ = column.type
    if isinstance(type_, sa.JSON):
        return "json"
    if isinstance(type_, sa.Enum):
        return "enum"
    if isinstance(type_, sa.types.TypeDecorator):
        # UtcDateTime, Money: the values they hand back are of their storage type's kind.
        type_ = type_.impl_instance
    try:
        python_type = type_.python_type
    except NotImplementedError:
        return "plain"
    if issubclass(python_type, dt.datetime):
        return "instant"
    if issubclass(python_type, dt.date):
        return "date"
    if issubclass(python_type, Decimal):
        return "decimal"
    if issubclass(python_type, bytes):
        return "bytes"
    return "plain"


def _encode(kind: str, value: Any) -> Any:
    if value is None or kind in ("json", "plain"):
        return value
    if kind == "enum":
        return getattr(value, "value", value)
    if kind == "instant":
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if kind == "date":
        return value.isoformat()
    if kind == "decimal":
        return str(value)
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    raise AssertionError(kind)


def _decoder(column: sa.Column[Any]) -> Any:
    kind = _kind(column)
    if kind in ("json", "plain"):
        return None
    if kind == "enum":
        enum_class = getattr(column.type, "enum_class", None)
        return enum_class if enum_class is not None else None
    return {
        "instant": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat,
        "decimal": Decimal,
        "bytes": base64.b64decode,
    }[kind]


# --------------------------------------------------------------------- schema


def _tables() -> list[sa.Table]:
    load_models()
    return list(Base.metadata.sorted_tables)


def _revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table(ALEMBIC_TABLE):
        return None
    versions = conn.execute(sa.text(f"SELECT version_num FROM {ALEMBIC_TABLE}")).scalars()
    found = sorted(versions)
    return ",".join(found) if found else None


def _check_tables(conn: sa.Connection, tables: list[sa.Table], what: str) -> None:
    present = set(sa.inspect(conn).get_table_names()) - {ALEMBIC_TABLE}
    known = {t.name for t in tables}
    unknown = sorted(present - known)
    missing = sorted(known - present)
    if unknown:
        raise BackupError(
            f"the {what} database has tables this version of poolbuy does not know "
            f"({', '.join(unknown)}); use the poolbuy release that made it"
        )
    if missing:
        raise BackupError(
            f"the {what} database lacks tables ({', '.join(missing)}): "
            "run `poolbuy db upgrade` on it first"
        )


def _describe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _pk_order(table: sa.Table) -> list[sa.Column[Any]]:
    return list(table.primary_key.columns) or list(table.columns)


def _audit_report(conn: sa.Connection) -> dict[str, Any]:
    with Session(bind=conn) as session:
        report = verify_chain(session)
    return {"ok": report.ok, "entries": report.entries_checked, "head_seq": report.head_seq}


# --------------------------------------------------------------------- files


@contextlib.contextmanager
def _open_for_writing(path: Path) -> Iterator[IO[str]]:
    """A text stream that becomes ``path`` only once everything is written."""
    directory = path.parent
    if not directory.is_dir():
        raise BackupError(f"{path}: directory {directory} does not exist")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(temporary, "wt", encoding="utf-8", newline="\n") as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _open_for_reading(path: Path) -> IO[str]:
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rt", encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


# --------------------------------------------------------------------- export


def export_all(url: str, path: Path) -> ExportSummary:
    """Write every table of the database at ``url`` to ``path`` (replaced atomically)."""
    tables = _tables()
    engine = make_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                # One snapshot for every table, and a promise to change nothing.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            # SQLite: app.db begins every transaction IMMEDIATE, which holds off
            # writers for the export's few seconds and so gives the same snapshot.
            with conn.begin():
                if postgres:
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                revision = _revision(conn)
                if revision is None:
                    raise BackupError(f"{_describe(url)} has no schema: nothing to export")
                _check_tables(conn, tables, "source")
                audit = _audit_report(conn)
                source = conn.dialect.name
                header = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "schema_revision": revision,
                    "source": source,
                    "exported_at": dt.datetime.now(dt.UTC).isoformat(),
                    "audit": audit,
                }
                rows: dict[str, int] = {}
                with _open_for_writing(path) as out:
                    out.write(_line(header))
                    for table in tables:
                        rows[table.name] = _export_table(conn, table, out)
                    out.write(_line({"end": True, "rows": rows}))
    finally:
        engine.dispose()
    return ExportSummary(path, source, revision, rows, audit)


def _export_table(conn: sa.Connection, table: sa.Table, out: IO[str]) -> int:
    columns = list(table.columns)
    kinds = [_kind(c) for c in columns]
    out.write(_line({"table": table.name, "columns": [c.name for c in columns]}))
    result = conn.execution_options(yield_per=BATCH_ROWS).execute(
        sa.select(*columns).order_by(*_pk_order(table))
    )
    count = 0
    for row in result:
        out.write(_line([_encode(k, v) for k, v in zip(kinds, row, strict=True)]))
        count += 1
    return count


# --------------------------------------------------------------------- import


@lru_cache
def seed_keys(revision: str) -> dict[str, frozenset[tuple[Any, ...]]]:
    """The primary keys of the rows the migrations themselves insert, per table.

    Found by migrating a throw-away SQLite database to ``revision``: a target
    holding only these rows is as empty as a database can be.
    """
    tables = _tables()
    with tempfile.TemporaryDirectory(prefix="poolbuy-seed-") as workdir:
        url = f"sqlite:///{Path(workdir) / 'seed.db'}"
        upgrade_database(url, revision)
        engine = make_engine(url, poolclass=sa.NullPool)
        try:
            with engine.connect() as conn:
                return {
                    t.name: frozenset(
                        tuple(r) for r in conn.execute(sa.select(*t.primary_key.columns))
                    )
                    for t in tables
                }
        finally:
            engine.dispose()


def _read_header(stream: IO[str], path: Path) -> dict[str, Any]:
    first = stream.readline()
    try:
        header = json.loads(first) if first else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError(f"{path} is not a poolbuy export (no '{FORMAT}' header on line 1)")
    if header.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} has format version {header.get('format_version')}; "
            f"this poolbuy reads version {FORMAT_VERSION}"
        )
    return header


def import_all(url: str, path: Path) -> ImportSummary:
    """Load the export at ``path`` into the empty, migrated database at ``url``.

    All or nothing: raises BackupError (the database unchanged) when the target
    is not empty, is at another schema revision, or the file is damaged.
    """
    tables = {t.name: t for t in _tables()}
    with _open_for_reading(path) as stream:
        header = _read_header(stream, path)
        revision = str(header.get("schema_revision"))
        engine = make_engine(url, poolclass=sa.NullPool)
        try:
            with engine.connect() as conn, conn.begin():
                target_revision = _revision(conn)
                if target_revision is None:
                    raise BackupError(
                        f"{_describe(url)} has no schema: run `poolbuy db upgrade` on it first"
                    )
                if target_revision != revision:
                    raise BackupError(
                        f"the export is at schema revision {revision}, {_describe(url)} at "
                        f"{target_revision}: migrate both to the same revision first"
                    )
                _check_tables(conn, list(tables.values()), "target")
                postgres = conn.dialect.name == "postgresql"
                if postgres:
                    # Nobody writes in between the emptiness check and the commit.
                    names = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in tables)
                    conn.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
                _ensure_empty(conn, tables, seed_keys(revision), url)
                rows = _load_rows(conn, tables, stream, path)
                if postgres:
                    _advance_sequences(conn, tables.values())
                audit = _audit_report(conn)
                expected = header.get("audit") or {}
                if (audit["ok"], audit["entries"]) != (expected.get("ok"), expected.get("entries")):
                    raise BackupError(
                        f"the audit chain does not verify as it did at export ({expected}); "
                        f"after import: {audit}"
                    )
        finally:
            engine.dispose()
    return ImportSummary(
        path, engine.dialect.name, str(header.get("source")), revision, rows, audit
    )


def _ensure_empty(
    conn: sa.Connection,
    tables: dict[str, sa.Table],
    seeds: dict[str, frozenset[tuple[Any, ...]]],
    url: str,
) -> None:
    for name, table in tables.items():
        keys = {tuple(r) for r in conn.execute(sa.select(*table.primary_key.columns))}
        extra = keys - seeds.get(name, frozenset())
        if extra:
            raise BackupError(
                f"{_describe(url)} is not empty (table {name} has {len(keys)} rows): "
                "import only into a freshly migrated database"
            )
    # The migrations' own rows give way to the dump's (same revision, so it has them).
    for table in reversed(list(tables.values())):
        if seeds.get(table.name):
            conn.execute(table.delete())


def _load_rows(
    conn: sa.Connection, tables: dict[str, sa.Table], stream: IO[str], path: Path
) -> dict[str, int]:
    rows: dict[str, int] = {}
    table: sa.Table | None = None
    names: list[str] = []
    decoders: list[Any] = []
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch and table is not None:
            bulk_insert(conn, table, batch)  # COPY on PostgreSQL
            batch.clear()

    for number, raw in enumerate(stream, start=2):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BackupError(f"{path}, line {number}: not JSON ({exc.msg})") from exc
        if isinstance(value, list):
            if table is None or len(value) != len(names):
                raise BackupError(f"{path}, line {number}: a row outside a table, or malformed")
            batch.append(
                {
                    n: (d(v) if d is not None and v is not None else v)
                    for n, d, v in zip(names, decoders, value, strict=True)
                }
            )
            rows[table.name] += 1
            if len(batch) >= BATCH_ROWS:
                flush()
            continue
        if not isinstance(value, dict):
            raise BackupError(f"{path}, line {number}: unexpected {type(value).__name__}")
        flush()
        if value.get("end") is True:
            expected = value.get("rows")
            if expected != rows:
                raise BackupError(f"{path}: the footer counts {expected}, the file holds {rows}")
            return rows
        name = value.get("table")
        if name not in tables or name in rows:
            raise BackupError(f"{path}, line {number}: unknown or repeated table {name!r}")
        table = tables[name]
        names = list(value.get("columns") or [])
        if set(names) != set(table.columns.keys()):
            raise BackupError(
                f"{path}, line {number}: the columns of {name} differ from this schema's"
            )
        decoders = [_decoder(table.columns[n]) for n in names]
        rows[name] = 0
    raise BackupError(f"{path} ends before its footer: the file is incomplete")


def _advance_sequences(conn: sa.Connection, tables: Any) -> None:
    """Move each id sequence past the imported ids, so new rows do not collide."""
    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, sa.Integer):
            continue
        quote = conn.dialect.identifier_preparer.quote
        quoted = quote(table.name)
        sequence = conn.execute(
            sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": quoted, "column": pk[0].name},
        ).scalar()
        if sequence is None:
            continue
        conn.execute(
            sa.text(
                f"SELECT setval(:sequence, COALESCE(MAX({quote(pk[0].name)}), 0) + 1, false) "
                f"FROM {quoted}"
            ),
            {"sequence": sequence},
        )
