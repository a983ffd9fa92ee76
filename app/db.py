"""Engine, sessions, the declarative base and the column types every domain shares.

How a domain uses it::

    from app.db import Base, SessionDep, Money, UtcDateTime, Versioned, Timestamped, utcnow

    class Offer(Versioned, Timestamped, Base):      # version + created_at/updated_at
        __tablename__ = "offer"
        ...

    @router.get("/offers/{offer_id}")
    def read_offer(offer_id: int, session: SessionDep) -> OfferRead:
        return offers_service.get(session, offer_id)

Transactions belong to services: a service function does its work, calls
``app.audit.record(...)`` and then ``session.commit()`` itself. Query helpers
only ``add`` and ``flush``. Routes never commit.

Concurrency, the same on both databases: a service that reads something and
then writes on the strength of it (close a round, submit a need into it) locks
the row it depends on with ``select(...).with_for_update()``. On PostgreSQL
that takes a row lock; on SQLite every transaction begins with
``BEGIN IMMEDIATE`` (see ``_configure_sqlite``), which takes the database's
single write lock up front, so transactions there are fully serialised and
``FOR UPDATE`` is not needed (SQLAlchemy drops it). A stale write against a
row's ``version`` raises ``StaleDataError``; ``get_session`` turns it into 412.

JSON columns are not change-tracked in place: assign a new dict/list
(``run.progress = {**run.progress, "pct": 40}``) rather than mutating it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import operator
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.orm.exc import StaleDataError

from app.errors import PreconditionFailed
from app.settings import Settings, get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# How long a SQLite writer waits for the write lock before giving up (ms).
SQLITE_BUSY_TIMEOUT_MS = 15_000

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# --------------------------------------------------------------------------- types


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware instant, always handed back in UTC.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC and the zone is put back on read. Naive datetimes are
    refused on write: guessing their zone is how audit trails go wrong.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


MONEY_SCALE = 6
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


class Money(sa.types.TypeDecorator[Decimal]):
    """A money figure as ``Decimal`` with 6 decimals, on both databases.

    PostgreSQL stores ``NUMERIC(18, 6)`` exactly. SQLite has no decimal type and
    keeps a double, so the value is read back through its shortest repr and
    quantised: the same Decimal comes back that PostgreSQL would return, for any
    figure up to about 15 significant digits.
    """

    impl = sa.Numeric(18, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            # asdecimal=False: we do the float -> Decimal step ourselves, exactly once.
            return dialect.type_descriptor(sa.Numeric(18, MONEY_SCALE, asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(18, MONEY_SCALE))

    def process_bind_param(self, value: Decimal | float | int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantised = Decimal(str(value)).quantize(_MONEY_QUANTUM)
        return float(quantised) if dialect.name == "sqlite" else quantised

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(
            _MONEY_QUANTUM
        )


def str_enum(enum_cls: type[StrEnum], name: str) -> sa.Enum:
    """A portable enum column: VARCHAR(32) plus a CHECK named after the column.

    Not a native PostgreSQL ENUM, so adding a value later is a plain migration
    that swaps the CHECK on both databases. ``name`` must be unique per table
    (it names the CHECK constraint ``ck_<table>_<name>``).
    """
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )


def json_column() -> sa.JSON:
    # none_as_null: Python None is SQL NULL, never the JSON literal 'null'.
    return sa.JSON(none_as_null=True)


# -------------------------------------------------------------------------- mixins


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Versioned:
    """An integer ``version`` bumped on every UPDATE; the row's ETag is built from it.

    A flush whose UPDATE finds another version than the one read raises
    ``StaleDataError`` (optimistic locking). Child rows edited through their
    parent (price tiers, eligibility) do not bump it by themselves: call
    ``touch(parent)`` so the parent's ETag changes too.
    """

    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


def touch(row: Timestamped) -> None:
    """Mark a row changed so its ``version`` (and ETag) moves with its children."""
    row.updated_at = utcnow()


# ------------------------------------------------------------------ engine, session


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 driver (it skips it before SELECT and
        # breaks SAVEPOINT); we emit it ourselves below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock at the start: a read-then-write
        # transaction can never be overtaken between its read and its write,
        # so check-then-act code is safe without retries.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_file(parsed: sa.URL) -> str | None:
    """The path of a SQLite database kept in a file; None for an in-memory one (or an
    URI, which may be either) and for any other database."""
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database:
        return None
    return None if database == ":memory:" or database.startswith("file:") else database


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if (database := _sqlite_file(parsed)) is not None:
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = sa.create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def pool_options(settings: Settings) -> dict[str, int]:
    """The pool's size and overflow from the settings, for a URL whose pool takes them
    (any but an in-memory SQLite database, which has one connection per thread)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and _sqlite_file(url) is None:
        return {}
    return {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow}


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    return make_engine(settings.database_url, **pool_options(settings))


@lru_cache
def get_session_factory() -> sessionmaker[Session]:
    # expire_on_commit=False: a service returns the row it committed and the
    # route serialises it without reloading every attribute.
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


_STALE = "the resource was changed by someone else meanwhile; read it again"


def serve_session(session: Session) -> Iterator[Session]:
    """Hand ``session`` to a request; a lost optimistic-lock race becomes 412.

    Tests override ``get_session`` with ``lambda: serve_session(test_session)``.
    """
    try:
        yield session
    except StaleDataError as exc:
        session.rollback()
        raise PreconditionFailed(_STALE) from exc
    except BaseException:
        # Leave the session usable (a test's session outlives the request).
        session.rollback()
        raise


def _close(session: Session) -> None:
    try:
        session.close()
    except (OperationalError, InterfaceError):
        # The answer is already on its way (the work was committed or rolled back);
        # a connection that died since is the pool's business: SQLAlchemy has
        # invalidated it, and raising here would only break the sent response.
        logging.getLogger("poolbuy").warning("database connection lost closing a session")


def open_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session from ``factory`` for one request, closed after it (as ``get_session``)."""
    session = factory()
    try:
        yield from serve_session(session)
    finally:
        _close(session)


async def get_session() -> AsyncIterator[Session]:
    """One session per request; whatever is not committed is rolled back.

    ``open_session``'s work, as a coroutine. FastAPI runs both halves of a plain
    generator in its thread pool: two hops on every request of every route, each a
    handover of the GIL among all the requests in flight, for a session whose making
    does no I/O and whose closing, after the service committed, does none either. What
    I/O there is (rolling back what was not committed, handing back the connection of
    an open transaction) still goes to the thread pool, never onto the event loop.
    """
    session = get_session_factory()()
    try:
        yield session
    except StaleDataError as exc:
        await run_in_threadpool(session.rollback)
        raise PreconditionFailed(_STALE) from exc
    except BaseException:
        await run_in_threadpool(session.rollback)
        raise
    finally:
        if session.in_transaction():
            await run_in_threadpool(_close, session)
        else:
            _close(session)


SessionDep = Annotated[Session, Depends(get_session)]


def bulk_insert(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    serialized: Collection[str] = (),
) -> None:
    """INSERT ``rows`` (each with the same keys) in the connection's transaction.

    PostgreSQL: one ``COPY ... FROM STDIN``, several times faster than multi-row
    INSERTs for thousands of rows (imports, restores). Elsewhere one executemany on the
    driver's cursor. Values go through the columns' types as with an INSERT, but for the
    columns named in ``serialized``, whose values are given as their type would make
    them (JSON as text); Python-side column defaults are NOT applied, so give every
    column but server-generated ids.
    """
    if rows:
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        insert_columns(connection, table, columns, serialized=serialized)


def insert_columns(
    connection: sa.Connection,
    table: sa.Table,
    columns: Mapping[str, Sequence[Any]],
    *,
    serialized: Collection[str] = (),
) -> None:
    """``bulk_insert`` of rows given column by column: ``columns[name][i]`` is row i's."""
    with inserting_columns(connection, table, columns, serialized=serialized, meanwhile=False):
        pass


@contextlib.contextmanager
def inserting_columns(
    connection: sa.Connection,
    table: sa.Table,
    columns: Mapping[str, Sequence[Any]],
    *,
    serialized: Collection[str] = (),
    meanwhile: bool = True,
) -> Iterator[None]:
    """``insert_columns`` while the ``with`` block runs; the ``with`` ends when the
    database has taken every row. The block must not use the connection.

    The database's own work (inserting, checking foreign keys, indexing) is most of a
    large insert's time, and the block's CPU work (preparing what comes next) then costs
    no wall time on a second core. PostgreSQL: the COPY's data goes out from a thread
    (psycopg's ``QueuedLibpqWriter``) while the server works. SQLite, which works in
    this process and lets go of the GIL while it does: the executemany runs in a thread.
    ``meanwhile=False``: the rows are inserted before the block runs.
    """
    names = list(columns)
    count = len(columns[names[0]]) if names else 0
    assert all(len(values) == count for values in columns.values()), "columns of unequal length"
    if not count:
        yield
        return
    dialect = connection.dialect
    bound = [
        _bound(
            list(columns[name]),
            None if name in serialized else table.c[name].type._cached_bind_processor(dialect),
        )
        for name in names
    ]
    if dialect.name == "postgresql":
        with _copy(connection, table, names, bound, queued=meanwhile):
            yield
        return
    insert = sa.insert(sa.table(table.name, *(sa.column(n) for n in names))).compile(
        dialect=dialect
    )
    records: list[Any] = list(zip(*bound, strict=True))
    if insert.positional:
        assert list(insert.positiontup or ()) == names, insert.positiontup
    else:
        records = [dict(zip(names, r, strict=True)) for r in records]
    if not meanwhile:
        connection.exec_driver_sql(str(insert), records)
        yield
        return
    with ThreadPoolExecutor(1, thread_name_prefix="bulk-insert") as pool:
        inserted = pool.submit(connection.exec_driver_sql, str(insert), records)
        try:
            yield
        except BaseException:
            wait([inserted])  # the connection is the caller's again only once it is done
            raise
        inserted.result()


def _bound(values: list[Any], process: Any) -> list[Any]:
    """One column's values as the driver takes them, through the column's bind processor.

    Processed once per distinct object (the import's one timestamp, its few statuses):
    a bind processor's result depends on the value alone.
    """
    if process is None:
        return values
    if _same(values):
        return [process(values[0])] * len(values)
    distinct = {id(v): v for v in values}
    if len(distinct) * 2 > len(values):
        return list(map(process, values))
    done = {key: process(v) for key, v in distinct.items()}
    return [done[id(v)] for v in values]


@contextlib.contextmanager
def _copy(
    connection: sa.Connection,
    table: sa.Table,
    names: list[str],
    columns: list[list[Any]],
    *,
    queued: bool,
) -> Iterator[None]:
    """``COPY table (names) FROM STDIN`` in the text format, its lines made here column by
    column: psycopg's ``write_row`` costs several times more. Values of other types than
    those of ``_COPY_TEXT`` are dumped by psycopg itself, as ``write_row`` would.
    ``queued``: the data goes out from a thread and the caller's block runs meanwhile."""
    from psycopg.adapt import PyFormat, Transformer
    from psycopg.copy import QueuedLibpqWriter

    driver = connection.connection.driver_connection
    assert driver is not None
    transformer = Transformer(driver)
    encoding = driver.info.encoding

    def dumped(value: Any) -> str:
        data = transformer.get_dumper(value, PyFormat.TEXT).dump(value)
        return _copy_escape(bytes(data or b"").decode(encoding))

    def texts(values: list[Any]) -> list[str]:
        if len(values) > 1 and _same(values):
            return [texts(values[:1])[0]] * len(values)
        kinds = set(map(type, values))
        if kinds == {str} and not _needs_copy_escape("".join(values)):
            return values
        if len(kinds) == 1 and (convert := _COPY_TEXT.get(kinds.pop())) is not None:
            return list(map(convert, values))
        return [_COPY_TEXT.get(type(v), dumped)(v) for v in values]

    quote = connection.dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
    with driver.cursor() as cursor:
        writer = QueuedLibpqWriter(cursor) if queued else None
        with cursor.copy(statement, writer=writer) as copy:
            # Chunk by chunk: the server takes one while the next is written.
            for start in range(0, len(columns[0]), _COPY_CHUNK_ROWS):
                chunk = [texts(values[start : start + _COPY_CHUNK_ROWS]) for values in columns]
                copy.write("\n".join(map("\t".join, zip(*chunk, strict=True))) + "\n")
            yield


_COPY_CHUNK_ROWS = 5000


def _same(values: list[Any]) -> bool:
    """Whether every value is the very same object (the import's timestamp, ...)."""
    return all(map(operator.is_, values, itertools.repeat(values[0])))


def _needs_copy_escape(text: str) -> bool:
    # What COPY's text format escapes: a backslash starts an escape, tab and newline end
    # a field and a row. Four scans at memchr's speed beat one regular expression.
    return "\\" in text or "\t" in text or "\n" in text or "\r" in text


def _copy_escape(text: str) -> str:
    # (str.replace hands the text back unchanged, without a copy, when it has none.)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# Values as COPY's text format writes them, by exact type.
_COPY_TEXT: dict[type, Any] = {
    type(None): "\\N".format,  # "\\N" (NULL) whatever the argument
    int: int.__repr__,
    str: _copy_escape,
    dt.date: dt.date.isoformat,
    dt.datetime: dt.datetime.isoformat,  # with its offset when it has one, which is read
}


# ------------------------------------------------------------------------ schema


def load_models() -> None:
    """Import every domain's models so ``Base.metadata`` and the mappers are complete."""
    import app.api.models
    import app.audit.models
    import app.auth.models
    import app.catalogue.models
    import app.deliveries.models
    import app.jobs.models
    import app.needs.models
    import app.rounds.models
    import app.runs.models
    import app.scenarios.models
    import app.sourcing.models  # noqa: F401


def references_to(session: Session, table: sa.FromClause, key: Any) -> dict[str, int]:
    """How many rows of each table refer to ``table``'s row ``key``, by their foreign keys.

    Read from the schema itself, so a domain can refuse to delete a row others still
    use without importing them (every model is loaded first). Tables with no such row
    are left out; names are the referring tables', in alphabetical order.
    """
    load_models()
    counts: dict[str, int] = {}
    for other in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        for fk in sorted(other.foreign_keys, key=lambda f: f.parent.name):
            if fk.column.table is not table:
                continue
            n = session.scalar(
                sa.select(sa.func.count()).select_from(other).where(fk.parent == key)
            )
            if n:
                counts[other.name] = counts.get(other.name, 0) + int(n)
    return counts


def alembic_config(url: str | None = None, connection: sa.Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes["url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


# Any fixed 64-bit number: the key of the PostgreSQL advisory lock that keeps two
# starting instances from migrating the same database at the same time.
_MIGRATION_LOCK_KEY = 0x706F6F6C627579


def upgrade_database(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` (default: the settings') to ``revision``.

    Used by ``poolbuy db upgrade`` and by the service on start, so the embedded
    SQLite file (and its folder) exists after the first start.
    """
    from alembic import command

    engine = make_engine(url or get_settings().database_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK_KEY})")
                connection.commit()
            try:
                command.upgrade(alembic_config(connection=connection), revision)
            finally:
                if postgres:
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK_KEY})")
                    connection.commit()
    finally:
        engine.dispose()
