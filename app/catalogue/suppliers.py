"""Suppliers: who sells, from where."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.auth.models import User
from app.catalogue import common
from app.catalogue.models import Supplier
from app.catalogue.schemas import SupplierCreate, SupplierRead, SupplierUpdate

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency


def supplier_url(supplier: Supplier) -> str:
    return f"{common.API_PREFIX}/suppliers/{supplier.id}"


def get_supplier(session: Session, supplier_id: str) -> Supplier:
    return common.get_or_404(session, Supplier, supplier_id)


def suppliers_query(
    *, q: str | None = None, country: str | None = None, active: bool | None = None
) -> sa.Select[Supplier]:
    stmt = common.by_id_where(Supplier, country=country, active=active)
    return stmt.where(common.contains(q, Supplier.id, Supplier.name)) if q else stmt


def add_supplier(session: Session, actor: User | None, data: SupplierCreate) -> Supplier:
    """Core of creating a supplier: 409 if the id is taken, added, flushed, audited;
    no commit."""
    supplier = Supplier(**data.model_dump(), active=True)
    common.add_keyed_row(session, actor, supplier)
    return supplier


def create_supplier(
    session: Session, actor: User | None, data: SupplierCreate, idem: Idempotency | None = None
) -> Supplier:
    supplier = add_supplier(session, actor, data)
    common.commit_created(session, idem, SupplierRead, supplier, supplier_url(supplier))
    return supplier


def change_supplier(
    session: Session, actor: User | None, supplier: Supplier, changes: dict[str, Any]
) -> bool:
    """Core of changing a supplier: set, flushed, audited; no commit."""
    return common.change_row(session, actor, supplier, changes)


def update_supplier(
    session: Session,
    actor: User | None,
    supplier: Supplier,
    data: SupplierUpdate,
    if_match: IfMatch,
) -> Supplier:
    return common.update_checked(session, actor, supplier, data, if_match, change_supplier)


def delete_supplier(
    session: Session, actor: User | None, supplier: Supplier, if_match: IfMatch
) -> None:
    common.delete_unused(session, actor, supplier, if_match)
