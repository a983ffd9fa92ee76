"""Catalogue items: what the agencies buy, counted in one unit each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.auth.models import User
from app.catalogue import common
from app.catalogue.models import Item
from app.catalogue.schemas import ItemCreate, ItemRead, ItemUpdate
from app.db import references_to
from app.errors import Conflict

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency


def item_url(item: Item) -> str:
    return f"{common.API_PREFIX}/items/{item.id}"


def get_item(session: Session, item_id: str) -> Item:
    return common.get_or_404(session, Item, item_id)


def items_query(
    *,
    category: str | None = None,
    q: str | None = None,
    unspsc: str | None = None,
    active: bool | None = None,
) -> sa.Select[Item]:
    """Items by id. ``unspsc`` is a prefix of digits; a full code ending in 00 pairs
    (a segment, family or class code) matches every item under it."""
    stmt = common.by_id_where(Item, category=category, active=active)
    if q:
        stmt = stmt.where(common.contains(q, Item.id, Item.name))
    if unspsc:
        prefix = unspsc
        if len(prefix) == 8:
            while prefix.endswith("00") and len(prefix) > 2:
                prefix = prefix[:-2]
        stmt = stmt.where(Item.unspsc_code.startswith(prefix, autoescape=True))
    return stmt


def add_item(session: Session, actor: User | None, data: ItemCreate) -> Item:
    """Core of creating an item: 409 if the id is taken, added, flushed, audited; no commit."""
    item = Item(**data.model_dump(), active=True)
    common.add_keyed_row(session, actor, item)
    return item


def create_item(
    session: Session, actor: User | None, data: ItemCreate, idem: Idempotency | None = None
) -> Item:
    item = add_item(session, actor, data)
    common.commit_created(session, idem, ItemRead, item, item_url(item))
    return item


def change_item(session: Session, actor: User | None, item: Item, changes: dict[str, Any]) -> bool:
    """Core of changing an item: 409 on a new unit once anything counts in the old one;
    set, flushed, audited; no commit. True when anything changed."""
    if "unit" in changes and changes["unit"] != item.unit:
        uses = references_to(session, Item.__table__, item.id)
        if any(uses.values()):
            # Existing quantities were counted in the old unit; changing it would
            # silently change what every one of them means.
            raise Conflict(
                f"{common.uses_text(uses)} count item {item.id} in {item.unit!r}; "
                "create a new item for the new unit and retire this one"
            )
    return common.change_row(session, actor, item, changes)


def update_item(
    session: Session, actor: User | None, item: Item, data: ItemUpdate, if_match: IfMatch
) -> Item:
    return common.update_checked(session, actor, item, data, if_match, change_item)


def delete_item(session: Session, actor: User | None, item: Item, if_match: IfMatch) -> None:
    common.delete_unused(session, actor, item, if_match)
