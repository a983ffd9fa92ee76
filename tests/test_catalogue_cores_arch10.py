"""The catalogue's write cores (``add_*``, ``change_*``): checked, added or set, flushed and
audited, never committed; the public create/update is the core and one commit (none when
nothing changed). Both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.api.etags import IfMatch
from app.audit.models import AuditEntry
from app.catalogue import service
from app.catalogue.models import Item, Location, Supplier
from app.catalogue.schemas import ItemCreate, ItemUpdate, LocationCreate, SupplierCreate
from app.errors import Conflict, InvalidInput
from tests.factories import make_item, make_location, make_offer

pytestmark = pytest.mark.integration

ANY = IfMatch(("*",))


def _entries(session: Session, entity_id: str) -> list[AuditEntry]:
    stmt = sa.select(AuditEntry).where(AuditEntry.entity_id == entity_id).order_by(AuditEntry.seq)
    return list(session.scalars(stmt))


def _count_commits(session: Session, monkeypatch: pytest.MonkeyPatch) -> list[None]:
    commits: list[None] = []
    real = session.commit

    def commit() -> None:
        commits.append(None)
        real()

    monkeypatch.setattr(session, "commit", commit)
    return commits


def test_the_add_cores_store_and_audit_without_committing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = _count_commits(session, monkeypatch)
    item = service.add_item(
        session, None, ItemCreate(id="core-item", name="Soap", unit="bar", category="WASH")
    )
    location = service.add_location(
        session, None, LocationCreate(id="core-loc", name="Metetí", region="Darién")
    )
    supplier = service.add_supplier(
        session, None, SupplierCreate(id="core-sup", name="Acme", country="PA")
    )

    assert commits == []
    for model, row in ((Item, item), (Location, location), (Supplier, supplier)):
        stored = session.scalar(sa.select(model).where(model.id == row.id))
        assert stored is row and stored.active is True
        (entry,) = _entries(session, row.id)
        assert entry.action == f"{model.__tablename__}.create"
        assert entry.before is None and entry.after["name"] == row.name


def test_an_add_core_refuses_a_taken_id(session: Session) -> None:
    make_item(session, "taken")
    with pytest.raises(Conflict, match="item taken already exists"):
        service.add_item(session, None, ItemCreate(id="taken", name="X", unit="each", category="C"))


def test_the_change_cores_audit_what_changed_and_nothing_else(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = make_item(session, "core-change", name="Old")
    commits = _count_commits(session, monkeypatch)

    assert service.change_item(session, None, item, {"name": "Old"}) is False
    assert _entries(session, item.id) == []
    assert service.change_item(session, None, item, {"name": "New"}) is True

    assert commits == []
    (entry,) = _entries(session, item.id)
    assert entry.action == "item.update"
    assert (entry.before["name"], entry.after["name"]) == ("Old", "New")


def test_the_change_cores_keep_their_rules(session: Session) -> None:
    location = make_location(session)
    with pytest.raises(InvalidInput) as refused:
        service.change_location(session, None, location, {"latitude": 8.4})
    assert [i.path for i in refused.value.errors] == ["$.latitude"]

    offer = make_offer(session)
    with pytest.raises(Conflict, match="count item"):
        service.change_item(session, None, offer.item, {"unit": "box"})


def test_a_public_update_commits_once_and_only_when_something_changed(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = make_item(session, "core-public", name="Same")
    commits = _count_commits(session, monkeypatch)

    service.update_item(session, None, item, ItemUpdate(name="Same"), ANY)
    assert commits == []
    service.update_item(session, None, item, ItemUpdate(name="Other"), ANY)
    assert len(commits) == 1
    assert [e.action for e in _entries(session, item.id)] == ["item.update"]
