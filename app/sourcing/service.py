"""Capacity groups, award rules, supplier exclusions and budgets: one core write each.

Every write has one core operation (``add_*``, ``change_*``, ``remove_*``): check
every problem, write, flush, audit; never commit. The request's service functions
(``create_*``, ``update_*``, ``delete_*``) call it and commit, and so does an import
of many rows, above all of them at once. ``*_issues`` read a body tolerantly (the
raw JSON of a body the schema refused, too), so one 422 lists every problem.

Who may write what, besides the role the route asks for:

* a capacity group takes an agency's long-term agreement as a member only from
  that agency's specialists (as editing the offer itself does);
* an exclusion is recorded or lifted on behalf of an agency by its own technical
  specialists (or an admin): the vetting is that agency's;
* a budget is the chief of mission's own agency's, for an open round only (the
  close freezes it into the snapshot).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.api.params import MAX_ID
from app.audit.service import record
from app.auth.models import Agency, Role, User
from app.catalogue.common import (
    apply_changes,
    audit_snapshot,
    by_id_where,
    commit_created,
    delete_row,
    flush_or_conflict,
    reference_issues,
)
from app.catalogue.models import Item, Location, Offer, Supplier
from app.catalogue.offers import require_may_manage_offer
from app.db import touch, utcnow
from app.errors import Conflict, FieldIssue, Forbidden, InvalidInput, NotFound
from app.rounds.models import Round
from app.rounds.service import ensure_open, lock_round
from app.sourcing.models import (
    GROUP_PREFIX,
    RULE_PREFIX,
    AgencyBudget,
    AwardRule,
    CapacityGroup,
    CapacityGroupOffer,
    SupplierExclusion,
)
from app.sourcing.rules import COUNT_KINDS, RuleKind, kind_field_issues
from app.sourcing.schemas import (
    AwardRuleCreate,
    AwardRuleRead,
    AwardRuleUpdate,
    BudgetCreate,
    BudgetRead,
    BudgetUpdate,
    CapacityGroupCreate,
    CapacityGroupRead,
    CapacityGroupUpdate,
    ExclusionCreate,
    ExclusionRead,
)

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency

API = "/api/v1"


def group_url(group: CapacityGroup) -> str:
    return f"{API}/capacity-groups/{group.id}"


def rule_url(rule: AwardRule) -> str:
    return f"{API}/award-rules/{rule.id}"


def exclusion_url(exclusion: SupplierExclusion) -> str:
    return f"{API}/supplier-exclusions/{exclusion.id}"


def budget_url(budget: AgencyBudget) -> str:
    return f"{API}/budgets/{budget.id}"


def _get[M](session: Session, model: type[M], row_id: int, noun: str) -> M:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{noun} {row_id}")
    return row


def _raise_if(issues: list[FieldIssue]) -> None:
    if issues:
        raise InvalidInput(issues)


def _audit(
    session: Session,
    actor: User | None,
    verb: str,
    row: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """The audit entry of ``verb`` ("create", "update") on ``row``, named by its table."""
    entity = type(row).__tablename__
    record(session, actor, f"{entity}.{verb}", entity, row.id, before, after)


def _add_row[R](
    session: Session,
    actor: User | None,
    row: R,
    conflict: str,
    snap: Callable[[R], dict[str, Any]] = audit_snapshot,
) -> R:
    """Core of adding a checked row: added, flushed (409 ``conflict`` when a row it names
    went meanwhile), audited; no commit."""
    session.add(row)
    flush_or_conflict(session, conflict)
    _audit(session, actor, "create", row, None, snap(row))
    return row


def _commit_update(
    session: Session, actor: User | None, row: Any, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """The public update's end: audited and committed when the snapshot changed."""
    if after != before:
        _audit(session, actor, "update", row, before, after)
        session.commit()


# ----------------------------------------------------------------- capacity groups


def get_group(session: Session, group_id: int) -> CapacityGroup:
    return _get(session, CapacityGroup, group_id, "capacity group")


def groups_query(supplier_id: str | None = None) -> sa.Select[CapacityGroup]:
    return by_id_where(CapacityGroup, supplier_id=supplier_id)


def group_issues(
    session: Session, data: Mapping[str, Any], current: CapacityGroup | None = None
) -> list[FieldIssue]:
    """The group's offers exist, are its supplier's and are listed once."""
    issues: list[FieldIssue] = []
    supplier_id = current.supplier_id if current is not None else data.get("supplier_id")
    if current is None:
        issues += reference_issues(session, Supplier, supplier_id, "$.supplier_id", "supplier")
    offer_ids = data.get("offer_ids")
    if not isinstance(offer_ids, list):
        return issues
    # Only what an id column can hold: a number the schema refused (listed as its own
    # problem) is no id to look up (PostgreSQL's INTEGER would refuse the query).
    wanted = [
        o for o in offer_ids if isinstance(o, int) and not isinstance(o, bool) and 1 <= o <= MAX_ID
    ]
    offers = {o.id: o for o in session.scalars(sa.select(Offer).where(Offer.id.in_(wanted)))}
    seen: set[int] = set()
    for j, offer_id in enumerate(offer_ids):
        if offer_id not in wanted:
            continue
        path = f"$.offer_ids[{j}]"
        offer = offers.get(offer_id)
        if offer is None:
            issues.append(FieldIssue(path, f"no offer {offer_id}"))
        elif offer_id in seen:
            issues.append(FieldIssue(path, f"offer {offer_id} listed twice"))
        elif isinstance(supplier_id, str) and offer.supplier_id != supplier_id:
            issues.append(
                FieldIssue(
                    path,
                    f"offer {offer_id} is {offer.supplier_id}'s, not {supplier_id}'s: a group "
                    "shares one supplier's capacity",
                )
            )
        seen.add(offer_id)
    return issues


def group_snapshot(group: CapacityGroup) -> dict[str, Any]:
    return {**audit_snapshot(group), "offer_ids": group.offer_ids}


def _require_may_group(session: Session, actor: User | None, offer_ids: Collection[int]) -> None:
    for offer in session.scalars(sa.select(Offer).where(Offer.id.in_(sorted(offer_ids)))):
        require_may_manage_offer(actor, offer.owner_agency_id)


def add_group(session: Session, actor: User | None, data: CapacityGroupCreate) -> CapacityGroup:
    _raise_if(group_issues(session, data.model_dump()))
    _require_may_group(session, actor, data.offer_ids)
    group = CapacityGroup(
        supplier_id=data.supplier_id,
        name=data.name,
        capacity=data.capacity,
        members=[CapacityGroupOffer(offer_id=o) for o in data.offer_ids],
    )
    conflict = "a supplier or offer of this group was just removed"
    return _add_row(session, actor, group, conflict, group_snapshot)


def create_group(
    session: Session, actor: User | None, data: CapacityGroupCreate, idem: Idempotency | None
) -> CapacityGroup:
    group = add_group(session, actor, data)
    commit_created(session, idem, CapacityGroupRead, group, group_url(group))
    return group


def update_group(
    session: Session,
    actor: User | None,
    group: CapacityGroup,
    data: CapacityGroupUpdate,
    if_match: IfMatch,
) -> CapacityGroup:
    if_match.check(group)
    changes = data.model_dump(exclude_unset=True)
    _raise_if(group_issues(session, changes, current=group))
    # Leaving a group or joining one changes what an agreement's offer may deliver.
    members = set(group.offer_ids) | set(changes.get("offer_ids") or [])
    _require_may_group(session, actor, members)
    before = group_snapshot(group)
    for key in ("name", "capacity"):
        if key in changes and getattr(group, key) != changes[key]:
            setattr(group, key, changes[key])
    wanted = changes.get("offer_ids")
    if wanted is not None and sorted(wanted) != group.offer_ids:
        keep = [m for m in group.members if m.offer_id in wanted]
        new = sorted(set(wanted) - {m.offer_id for m in keep})
        group.members = keep + [CapacityGroupOffer(offer_id=o) for o in new]
        touch(group)
    flush_or_conflict(session, "an offer of this group was just removed")
    _commit_update(session, actor, group, before, group_snapshot(group))
    return group


def delete_group(
    session: Session, actor: User | None, group: CapacityGroup, if_match: IfMatch
) -> None:
    if_match.check(group)
    _require_may_group(session, actor, group.offer_ids)
    before = group_snapshot(group)
    delete_row(session, actor, group, before, f"capacity group {group.id} is in use")


# --------------------------------------------------------------------- award rules


def get_rule(session: Session, rule_id: int) -> AwardRule:
    return _get(session, AwardRule, rule_id, "award rule")


def rules_query(
    *, item_id: str | None = None, kind: RuleKind | None = None
) -> sa.Select[AwardRule]:
    return by_id_where(AwardRule, item_id=item_id, kind=kind)


def rule_issues(
    session: Session, data: Mapping[str, Any], current: AwardRule | None = None
) -> list[FieldIssue]:
    """The fields a rule of its kind needs, and its references (contract v2's rules)."""
    merged: dict[str, Any] = {}
    if current is not None:
        merged = {
            "kind": current.kind.value,
            "item_id": current.item_id,
            "location_id": current.location_id,
            "supplier_id": current.supplier_id,
            "limit": current.limit,
            "share": current.share,
        }
    merged.update(data)
    issues: list[FieldIssue] = []
    if current is None:
        issues += reference_issues(session, Item, merged.get("item_id"), "$.item_id", "item")
    if "location_id" in data:
        issues += reference_issues(
            session, Location, data["location_id"], "$.location_id", "location"
        )
    if "supplier_id" in data:
        issues += reference_issues(
            session, Supplier, data["supplier_id"], "$.supplier_id", "supplier"
        )
    issues += [FieldIssue(f"$.{key}", reason) for key, reason in kind_field_issues(merged)]
    return issues


def add_rule(session: Session, actor: User | None, data: AwardRuleCreate) -> AwardRule:
    _raise_if(rule_issues(session, data.model_dump()))
    conflict = "an item, location or supplier of this rule was just removed"
    return _add_row(session, actor, AwardRule(**data.model_dump()), conflict)


def create_rule(
    session: Session, actor: User | None, data: AwardRuleCreate, idem: Idempotency | None
) -> AwardRule:
    rule = add_rule(session, actor, data)
    commit_created(session, idem, AwardRuleRead, rule, rule_url(rule))
    return rule


def update_rule(
    session: Session, actor: User | None, rule: AwardRule, data: AwardRuleUpdate, if_match: IfMatch
) -> AwardRule:
    if_match.check(rule)
    changes = data.model_dump(exclude_unset=True)
    _raise_if(rule_issues(session, changes, current=rule))
    before = audit_snapshot(rule)
    apply_changes(rule, changes)
    flush_or_conflict(session, "a location or supplier of this rule was just removed")
    _commit_update(session, actor, rule, before, audit_snapshot(rule))
    return rule


def delete_rule(session: Session, actor: User | None, rule: AwardRule, if_match: IfMatch) -> None:
    if_match.check(rule)
    before = audit_snapshot(rule)
    delete_row(session, actor, rule, before, f"award rule {rule.id} is in use")


# ---------------------------------------------------------------- supplier exclusions


def get_exclusion(session: Session, exclusion_id: int) -> SupplierExclusion:
    return _get(session, SupplierExclusion, exclusion_id, "supplier exclusion")


def exclusions_query(
    *, agency_id: str | None = None, supplier_id: str | None = None
) -> sa.Select[SupplierExclusion]:
    return by_id_where(SupplierExclusion, agency_id=agency_id, supplier_id=supplier_id)


def require_may_vet_for(actor: User | None, agency_id: str) -> None:
    """An agency's exclusions are its own specialists' (and admins') to record or lift."""
    if actor is None or actor.has_role(Role.admin) or actor.agency_id == agency_id:
        return
    raise Forbidden(
        f"an exclusion on behalf of {agency_id}'s vetting is recorded or lifted only by "
        f"{agency_id}'s technical specialists or an admin"
    )


def exclusion_issues(session: Session, data: Mapping[str, Any]) -> list[FieldIssue]:
    issues = reference_issues(
        session, Supplier, data.get("supplier_id"), "$.supplier_id", "supplier"
    )
    agency = data.get("agency_id")
    if isinstance(agency, str) and session.get(Agency, agency) is None:
        issues.append(FieldIssue("$.agency_id", f"no agency {agency!r}"))
    return issues


def add_exclusion(session: Session, actor: User, data: ExclusionCreate) -> SupplierExclusion:
    _raise_if(exclusion_issues(session, data.model_dump()))
    require_may_vet_for(actor, data.agency_id)
    exists = f"{data.agency_id} already excludes {data.supplier_id}"
    taken = session.scalar(exclusions_query(agency_id=data.agency_id, supplier_id=data.supplier_id))
    if taken is not None:
        raise Conflict(exists)
    exclusion = SupplierExclusion(**data.model_dump(), created_by_id=actor.id)
    return _add_row(session, actor, exclusion, exists)


def create_exclusion(
    session: Session, actor: User, data: ExclusionCreate, idem: Idempotency | None
) -> SupplierExclusion:
    exclusion = add_exclusion(session, actor, data)
    commit_created(session, idem, ExclusionRead, exclusion, exclusion_url(exclusion))
    return exclusion


def delete_exclusion(
    session: Session, actor: User, exclusion: SupplierExclusion, if_match: IfMatch
) -> None:
    require_may_vet_for(actor, exclusion.agency_id)
    if_match.check(exclusion)
    before = audit_snapshot(exclusion)
    delete_row(session, actor, exclusion, before, f"supplier exclusion {exclusion.id} is in use")


# ------------------------------------------------------------------------- budgets


def get_budget(session: Session, budget_id: int) -> AgencyBudget:
    return _get(session, AgencyBudget, budget_id, "budget")


def budgets_query(round_id: int) -> sa.Select[AgencyBudget]:
    return (
        sa.select(AgencyBudget)
        .where(AgencyBudget.round_id == round_id)
        .order_by(AgencyBudget.agency_id)
    )


def _own_agency(actor: User) -> str:
    if actor.agency_id is None:
        raise Forbidden("a budget is set by a chief of mission of an agency")
    return actor.agency_id


def _require_own_budget(actor: User, budget: AgencyBudget) -> None:
    if actor.agency_id != budget.agency_id:
        raise Forbidden(f"this is {budget.agency_id}'s budget: only its chief of mission sets it")


def _open_round(session: Session, round_id: int) -> Round:
    # Shared: budgets of several agencies do not wait for each other, yet the close
    # (exclusive) either sees this budget in its snapshot or refuses it after.
    round_ = lock_round(session, round_id, shared=True)
    ensure_open(round_, "its budgets are frozen in its snapshot")
    return round_


def add_budget(session: Session, actor: User, round_id: int, data: BudgetCreate) -> AgencyBudget:
    agency_id = _own_agency(actor)
    _open_round(session, round_id)
    exists = f"{agency_id} already has a budget for round {round_id}: change it (PATCH)"
    if session.scalar(budgets_query(round_id).where(AgencyBudget.agency_id == agency_id)):
        raise Conflict(exists)
    budget = AgencyBudget(
        round_id=round_id,
        agency_id=agency_id,
        amount=data.amount,
        note=data.note,
        set_by_id=actor.id,
    )
    return _add_row(session, actor, budget, exists)


def create_budget(
    session: Session, actor: User, round_id: int, data: BudgetCreate, idem: Idempotency | None
) -> AgencyBudget:
    budget = add_budget(session, actor, round_id, data)
    commit_created(session, idem, BudgetRead, budget, budget_url(budget))
    return budget


def update_budget(
    session: Session, actor: User, budget: AgencyBudget, data: BudgetUpdate, if_match: IfMatch
) -> AgencyBudget:
    _require_own_budget(actor, budget)
    _open_round(session, budget.round_id)
    if_match.check(budget)
    changes = {
        key: value
        for key, value in data.model_dump(exclude_unset=True).items()
        if getattr(budget, key) != value
    }
    if changes:
        before = audit_snapshot(budget)
        for key, value in changes.items():
            setattr(budget, key, value)
        budget.set_by_id, budget.set_at = actor.id, utcnow()
        session.flush()
        _audit(session, actor, "update", budget, before, audit_snapshot(budget))
        session.commit()
    return budget


def delete_budget(session: Session, actor: User, budget: AgencyBudget, if_match: IfMatch) -> None:
    _require_own_budget(actor, budget)
    _open_round(session, budget.round_id)
    if_match.check(budget)
    before = audit_snapshot(budget)
    delete_row(session, actor, budget, before, f"budget {budget.id} is in use")


# ------------------------------------------------------- problem document (contract v2)


def document_parts(
    session: Session,
    round_id: int,
    *,
    agency_ids: Collection[str],
    offer_ids: Mapping[int, str],
    supplier_ids: Collection[str],
    item_ids: Collection[str],
    location_ids: Collection[str],
) -> dict[str, Any]:
    """The sourcing half of a round's contract-v2 document, cut to what it holds.

    ``offer_ids`` maps the database ids of the document's offers to their refs.
    Returns ``budgets`` and ``excluded_suppliers`` per agency, ``capacity_groups``
    and ``rules`` in id order, and ``suppliers``: suppliers a share rule names that
    have no offer in the document (the rule still counts their share as 0).

    What is left out cannot change the optimum: an exclusion of a supplier with no
    offer here; a group with none of its offers here (kept, cut, when some are); a
    rule on an item or at a location no need has (nothing is in its scope).
    """
    agencies = set(agency_ids)
    suppliers = set(supplier_ids)
    budgets = {
        b.agency_id: float(b.amount)
        for b in session.scalars(budgets_query(round_id))
        if b.agency_id in agencies
    }
    excluded: dict[str, list[str]] = {a: [] for a in sorted(agencies)}
    for e in session.scalars(
        exclusions_query().order_by(None).order_by(SupplierExclusion.supplier_id)
    ):
        if e.agency_id in agencies and e.supplier_id in suppliers:
            excluded[e.agency_id].append(e.supplier_id)
    groups = []
    for group in session.scalars(groups_query()):
        members = [offer_ids[o] for o in group.offer_ids if o in offer_ids]
        if members:
            groups.append(
                {"id": f"{GROUP_PREFIX}{group.id}", "offers": members, "capacity": group.capacity}
            )
    rules = []
    extra_suppliers: dict[str, str] = {}
    items, locations = set(item_ids), set(location_ids)
    for rule in session.scalars(rules_query()):
        if rule.item_id not in items:
            continue
        if rule.location_id is not None and rule.location_id not in locations:
            continue
        line: dict[str, Any] = {
            "id": f"{RULE_PREFIX}{rule.id}",
            "kind": rule.kind.value,
            "item": rule.item_id,
        }
        if rule.location_id is not None:
            line["location"] = rule.location_id
        if rule.kind in COUNT_KINDS:
            line["limit"] = rule.limit
        else:
            assert rule.supplier is not None and rule.share is not None  # CHECK fields_of_kind
            line["supplier"] = rule.supplier_id
            line["share"] = float(rule.share)
            if rule.supplier_id not in suppliers:
                extra_suppliers[rule.supplier.id] = rule.supplier.name
        line["penalty"] = float(rule.penalty)
        rules.append(line)
    return {
        "budgets": budgets,
        "excluded_suppliers": excluded,
        "capacity_groups": groups,
        "rules": rules,
        "suppliers": [{"id": s, "name": extra_suppliers[s]} for s in sorted(extra_suppliers)],
    }
