"""Alembic environment: the schema is made only by these migrations, tests included.

The database comes from, in order: a connection handed over in
``config.attributes["connection"]`` (tests, ``app.db.upgrade_database``), a URL
in ``config.attributes["url"]``, else the application's settings
(``DATABASE_URL``). The ``sqlalchemy.url`` of alembic.ini is not used.
"""

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from app.db import Base, load_models, make_engine
from app.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

load_models()
target_metadata = Base.metadata


def _url() -> str:
    return str(config.attributes.get("url") or get_settings().database_url)


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_foreign_keys(connection: sa.Connection, on: bool) -> None:
    # Through the driver: a SQLAlchemy execute would BEGIN first, and SQLite
    # ignores this pragma inside a transaction.
    connection.connection.driver_connection.execute(  # type: ignore[union-attr]
        f"PRAGMA foreign_keys={'ON' if on else 'OFF'}"
    )


def _run(connection: sa.Connection) -> None:
    # Batch migrations rebuild SQLite tables (copy, drop, rename); with foreign
    # keys enforced the drop would cascade or fail, so they are off while
    # migrating and foreign_key_check below stands in for them.
    toggle_fks = connection.dialect.name == "sqlite" and not connection.in_transaction()
    sqlite = connection.dialect.name == "sqlite"
    if toggle_fks:
        _sqlite_foreign_keys(connection, on=False)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left dangling foreign keys: {broken[:5]}")
    finally:
        if toggle_fks:
            _sqlite_foreign_keys(connection, on=True)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
