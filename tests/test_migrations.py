"""The migrations are the schema: one head, up and down cleanly, and equal to the models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.db import MIGRATIONS_DIR, Base, alembic_config, make_engine, upgrade_database

if TYPE_CHECKING:
    from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_url(database_factory: DatabaseFactory) -> str:
    """An empty database of its own: these tests go down to nothing and back."""
    return database_factory.create()


@pytest.fixture
def fresh_engine(fresh_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(fresh_url, poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def _diff(engine: sa.Engine, metadata: sa.MetaData = Base.metadata) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_there_is_one_head() -> None:
    assert len(_script().get_heads()) == 1


def test_migration_files_are_named_by_date_and_slug() -> None:
    names = [p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py")]
    assert names
    for name in names:
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}-[0-9a-z_]+-[0-9a-z_]+\.py", name), name


def test_upgrade_downgrade_upgrade(fresh_url: str, fresh_engine: sa.Engine) -> None:
    upgrade_database(fresh_url)
    assert _tables(fresh_engine) == set(Base.metadata.tables)

    with fresh_engine.connect() as conn:
        command.downgrade(alembic_config(connection=conn), "base")
        conn.commit()
    assert _tables(fresh_engine) == set()

    upgrade_database(fresh_url)
    assert _tables(fresh_engine) == set(Base.metadata.tables)
    assert _diff(fresh_engine) == []


def test_each_revision_goes_up_and_down_one_step(fresh_url: str, fresh_engine: sa.Engine) -> None:
    revisions = list(reversed(list(_script().walk_revisions())))
    for revision in revisions:
        upgrade_database(fresh_url, revision.revision)
        with fresh_engine.connect() as conn:
            command.downgrade(alembic_config(connection=conn), "-1")
            conn.commit()
        upgrade_database(fresh_url, revision.revision)
    assert _diff(fresh_engine) == []


def test_models_match_the_migrations(engine: sa.Engine) -> None:
    # `engine` is the test session's database, built by the migrations.
    assert _diff(engine) == []


def test_the_comparison_would_see_a_difference(engine: sa.Engine) -> None:
    # Guard against a vacuous pass: a model the migrations lack must show up.
    metadata = sa.MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    sa.Table("not_migrated", metadata, sa.Column("id", sa.Integer, primary_key=True))
    metadata.tables["need"].append_column(sa.Column("not_migrated", sa.String(5)))
    found = {(d[0], str(d[-1].name)) for d in _diff(engine, metadata) if isinstance(d, tuple)}
    assert found == {("add_table", "not_migrated"), ("add_column", "not_migrated")}


def test_the_audit_chain_starts_at_genesis(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        head = conn.execute(sa.text("SELECT id, seq, hash FROM audit_chain_head")).all()
    assert [tuple(r) for r in head] == [(1, 0, "0" * 64)]


def test_the_sqlite_default_is_created_on_first_start(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet"
    url = f"sqlite:///{folder / 'poolbuy.db'}"
    upgrade_database(url)
    assert (folder / "poolbuy.db").exists()
    engine = make_engine(url)
    try:
        assert _tables(engine) == set(Base.metadata.tables)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
