"""`poolbuy export-all` / `import-all`: the demo group, run and approved, restored into an
empty database of the OTHER kind (SQLite <-> PostgreSQL) and back, with identical plans and
an audit chain that still verifies; and every refusal leaves the target as it was.

The test session's database kind (``TEST_DATABASE_URL``) is the source; the other kind is
a SQLite file, or a database made on the PostgreSQL server of ``TEST_DATABASE_URL`` or
else ``POOLBUY_BACKUP_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/
postgres``), skipped with the reason when that server cannot be reached.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import cli
from app.audit.models import AuditEntry
from app.audit.service import record, verify_chain
from app.auth import service as auth_service
from app.auth.models import ApiToken, Role, User, UserRole
from app.backup.service import BackupError, _encode, _kind, export_all, import_all
from app.db import Base, load_models, make_engine, upgrade_database
from app.demo.loader import issue_demo_tokens, load_demo
from app.rounds import flows
from app.rounds.models import Round, RoundStatus
from app.runs import service as runs_service
from app.runs.models import Run, RunStatus
from app.runs.schemas import ApprovalCreate
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.integration

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# ------------------------------------------------------------------ databases


class OtherKind:
    """Makes migrated (or bare) databases of the kind the test session does NOT use."""

    def __init__(self, factory: DatabaseFactory, workdir: Path) -> None:
        self.factory = factory
        self.workdir = workdir
        self.dropped: list[str] = []
        self.kind = "sqlite" if factory.backend == "postgresql" else "postgresql"
        self.server: str | None = None
        if self.kind == "postgresql":
            self.server = os.environ.get("POOLBUY_BACKUP_PG_URL") or DEFAULT_PG_URL

    def reachable(self) -> str | None:
        if self.server is None:
            return None
        try:
            with self._admin() as conn:
                conn.exec_driver_sql("SELECT 1")
        except sa.exc.OperationalError as exc:
            return f"no PostgreSQL for the other side at {self.server}: {exc.orig}"
        return None

    def _admin(self) -> sa.Connection:
        assert self.server is not None
        engine = sa.create_engine(self.server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        return engine.connect()

    def create(self, *, migrate: bool = True) -> str:
        name = f"poolbuy_test_backup_{uuid.uuid4().hex[:10]}"
        if self.kind == "sqlite":
            url = f"sqlite:///{self.workdir / (name + '.db')}"
        else:
            with self._admin() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            assert self.server is not None
            url = make_url(self.server).set(database=name).render_as_string(hide_password=False)
            self.dropped.append(name)
        if migrate:
            upgrade_database(url)
        return url

    def drop_all(self) -> None:
        for name in self.dropped:
            with self._admin() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def other_kind(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OtherKind]:
    other = OtherKind(database_factory, tmp_path_factory.mktemp("backup"))
    if reason := other.reachable():
        pytest.skip(reason)
    try:
        yield other
    finally:
        other.drop_all()


def same_kind(factory: DatabaseFactory, *, migrate: bool = True) -> str:
    url = factory.create()
    if migrate:
        upgrade_database(url)
    return url


@dataclass
class Source:
    url: str
    dump: Path
    round_id: int
    run_id: int
    token: str  # a plain API token of the demo coordinator, for after the restore


@pytest.fixture(scope="module")
def source(database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Source:
    """The demo group, its round closed, solved and approved by every chief; exported."""
    url = same_kind(database_factory)
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            summary = load_demo(session)
            tokens = {t.person.email: t.token for t in issue_demo_tokens(session)}
            session.commit()
            coordinator = user(session, "coordinator@demo.poolbuy.org")
            run = flows.close_round(session, coordinator, summary.round_id)
            assert run.status == RunStatus.succeeded, run.error
            for agency in sorted(runs_service.required_agencies(run)):
                chief = chief_of(session, agency)
                flows.decide(session, chief, run.id, ApprovalCreate(decision="approved"))
            round_ = session.get_one(Round, summary.round_id, populate_existing=True)
            assert round_.status == RoundStatus.approved
            run_id = run.id
    finally:
        engine.dispose()
    dump = tmp_path_factory.mktemp("dump") / "poolbuy.jsonl"
    export_all(url, dump)
    return Source(url, dump, summary.round_id, run_id, tokens["coordinator@demo.poolbuy.org"])


def user(session: Session, email: str) -> User:
    found = session.scalar(sa.select(User).where(User.email == email))
    assert found is not None, email
    return found


def chief_of(session: Session, agency: str) -> User:
    found = session.scalars(
        sa.select(User)
        .join(UserRole)
        .where(User.agency_id == agency, UserRole.role == Role.chief_of_mission)
    ).first()
    assert found is not None, agency
    return found


# ------------------------------------------------------------------ comparing


def table_rows(url: str) -> dict[str, list[list[Any]]]:
    """Every row of every table, as exported values, in primary-key order."""
    load_models()
    engine = make_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            out: dict[str, list[list[Any]]] = {}
            for table in Base.metadata.sorted_tables:
                kinds = [_kind(c) for c in table.columns]
                result = conn.execute(
                    sa.select(*table.columns).order_by(*table.primary_key.columns)
                )
                out[table.name] = [
                    [_encode(k, v) for k, v in zip(kinds, row, strict=True)] for row in result
                ]
            return out
    finally:
        engine.dispose()


def with_session[T](url: str, work: Callable[[Session], T]) -> T:
    engine = make_engine(url, poolclass=sa.NullPool)
    try:
        with Session(engine, expire_on_commit=False) as session:
            return work(session)
    finally:
        engine.dispose()


def row_counts(url: str) -> dict[str, int]:
    return {name: len(rows) for name, rows in table_rows(url).items()}


# ------------------------------------------------------------------ the restore


def test_a_restore_into_the_other_kind_has_identical_rows_plans_and_a_verifying_chain(
    source: Source, other_kind: OtherKind
) -> None:
    target = other_kind.create()

    summary = import_all(target, source.dump)

    assert summary.target == other_kind.kind and summary.audit["ok"] is True
    assert table_rows(target) == table_rows(source.url)

    def plans(url: str) -> tuple[Any, Any, bool, list[tuple[int, str, str]], int]:
        def read(session: Session) -> tuple[Any, Any, bool, list[tuple[int, str, str]], int]:
            run = session.get_one(Run, source.run_id)
            chain = [
                (e.seq, e.prev_hash, e.hash)
                for e in session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq))
            ]
            report = verify_chain(session)
            assert report.ok, report
            return run.plan, run.problem, run.binding, chain, report.entries_checked

        return with_session(url, read)

    source_plan, source_problem, _, source_chain, source_entries = plans(source.url)
    target_plan, target_problem, binding, target_chain, target_entries = plans(target)
    assert target_plan == source_plan and target_plan is not None
    assert target_problem == source_problem
    assert binding is True
    assert target_chain == source_chain and target_entries == source_entries > 0
    # The audited actions of the round are all there, down to the binding.
    actions = with_session(
        target,
        lambda s: list(s.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.seq))),
    )
    assert {"need.create", "round.close", "run.finish", "approval.create", "run.bind"} <= set(
        actions
    )


def test_the_restored_database_works_tokens_new_rows_and_new_audit_entries(
    source: Source, other_kind: OtherKind
) -> None:
    target = other_kind.create()
    import_all(target, source.dump)

    def use(session: Session) -> None:
        # Only the token's hash travelled; the plain token still authenticates.
        assert auth_service.authenticate(session, source.token).email.startswith("coordinator")
        session.commit()
        # Ids continue after the imported ones (PostgreSQL's sequences were moved on).
        newcomer = User(email="new.officer@example.org", name="New officer", active=True)
        session.add(newcomer)
        session.flush()
        record(session, None, "user.create", "user", newcomer.id, None, {"email": newcomer.email})
        session.commit()
        assert newcomer.id > max(session.scalars(sa.select(User.id).where(User.id != newcomer.id)))
        report = verify_chain(session)
        assert report.ok and report.entries_checked == report.head_seq

    with_session(target, use)


def test_sqlite_to_postgresql_and_back_gives_back_the_same_rows(
    source: Source, other_kind: OtherKind, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    there = other_kind.create()
    import_all(there, source.dump)
    dump_there = tmp_path / "there.jsonl.gz"
    export_all(there, dump_there)
    back = same_kind(database_factory)

    import_all(back, dump_there)

    assert table_rows(back) == table_rows(source.url)


def test_the_command_line_exports_and_imports(
    source: Source, other_kind: OtherKind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "cli.jsonl"
    target = other_kind.create()

    assert cli.main(["export-all", str(dump), "--url", source.url]) == 0
    assert cli.main(["import-all", str(dump), "--url", target]) == 0
    out, _ = capsys.readouterr()
    assert "audit chain:" in out and "verifies" in out

    # A second import finds the database no longer empty.
    assert cli.main(["import-all", str(dump), "--url", target]) == 1
    _, err = capsys.readouterr()
    assert "is not empty" in err and "nothing was imported" in err


# ------------------------------------------------------------------ refusals


def test_import_refuses_a_database_that_is_not_empty_and_changes_nothing(
    source: Source, other_kind: OtherKind
) -> None:
    target = other_kind.create()

    def one_agency(session: Session) -> None:
        from app.auth.models import Agency

        session.add(Agency(id="XYZ", name="Somebody's data"))
        session.commit()

    with_session(target, one_agency)
    before = table_rows(target)

    with pytest.raises(BackupError, match="is not empty"):
        import_all(target, source.dump)

    assert table_rows(target) == before


def test_import_refuses_an_unmigrated_database(source: Source, other_kind: OtherKind) -> None:
    target = other_kind.create(migrate=False)
    with pytest.raises(BackupError, match="db upgrade"):
        import_all(target, source.dump)


def _rewrite(source: Path, target: Path, change: Callable[[list[str]], list[str]]) -> Path:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text("".join(change(lines)), encoding="utf-8")
    return target


def test_import_refuses_a_file_cut_short_and_leaves_the_database_empty(
    source: Source, other_kind: OtherKind, tmp_path: Path
) -> None:
    target = other_kind.create()
    empty = row_counts(target)
    cut = _rewrite(source.dump, tmp_path / "cut.jsonl", lambda lines: lines[: len(lines) // 2])

    with pytest.raises(BackupError, match="incomplete"):
        import_all(target, cut)

    assert row_counts(target) == empty
    # And afterwards the whole file still goes in: nothing half-imported stood in the way.
    import_all(target, source.dump)


def test_import_refuses_a_tampered_audit_entry(
    source: Source, other_kind: OtherKind, tmp_path: Path
) -> None:
    target = other_kind.create()
    empty = row_counts(target)

    def tamper(lines: list[str]) -> list[str]:
        out, in_audit, columns = [], False, []
        done = False
        for line in lines:
            value = json.loads(line)
            if isinstance(value, dict) and "table" in value:
                in_audit = value["table"] == "audit_entry"
                columns = value["columns"]
            elif in_audit and isinstance(value, list) and not done:
                value[columns.index("actor_name")] = "someone-else@example.org"
                line = json.dumps(value) + "\n"
                done = True
            out.append(line)
        assert done
        return out

    tampered = _rewrite(source.dump, tmp_path / "tampered.jsonl", tamper)

    with pytest.raises(BackupError, match="audit chain does not verify"):
        import_all(target, tampered)
    assert row_counts(target) == empty


def test_import_refuses_another_schema_revision_and_other_files(
    source: Source, other_kind: OtherKind, tmp_path: Path
) -> None:
    target = other_kind.create()

    def older(lines: list[str]) -> list[str]:
        header = json.loads(lines[0])
        header["schema_revision"] = "0000_older"
        return [json.dumps(header) + "\n", *lines[1:]]

    with pytest.raises(BackupError, match="revision 0000_older"):
        import_all(target, _rewrite(source.dump, tmp_path / "older.jsonl", older))

    not_ours = tmp_path / "plan.json"
    not_ours.write_text('{"status": "optimal"}\n', encoding="utf-8")
    with pytest.raises(BackupError, match="not a poolbuy export"):
        import_all(target, not_ours)
    with pytest.raises(BackupError, match="cannot read"):
        import_all(target, tmp_path / "missing.jsonl")


def test_export_refuses_a_database_without_schema(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no schema"):
        export_all(f"sqlite:///{tmp_path / 'blank.db'}", tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_the_export_holds_tokens_as_hashes_only(source: Source) -> None:
    text = source.dump.read_text(encoding="utf-8")
    assert source.token not in text

    def hashes(session: Session) -> set[str]:
        return set(session.scalars(sa.select(ApiToken.token_hash)))

    stored = with_session(source.url, hashes)
    assert stored and all(h in text for h in stored)
