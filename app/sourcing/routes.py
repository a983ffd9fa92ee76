"""/api/v1 capacity groups, award rules, supplier exclusions and round budgets. Thin.

Everyone signed in reads them (the group sees why a plan looks as it does);
technical specialists and admins keep groups, rules and exclusions; a chief of
mission sets their own agency's budget for an open round.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.api import IdempotencyDep, IfMatchDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import json_body, problem_responses
from app.api.resource import add_create, add_delete, add_read, add_update
from app.auth.deps import CurrentUser
from app.catalogue.deps import CatalogueManager
from app.db import SessionDep
from app.rounds.deps import ValidRound
from app.sourcing import service
from app.sourcing.deps import (
    BudgetDep,
    BudgetSetter,
    ExclusionCreateBody,
    ExclusionDep,
    GroupCreateBody,
    GroupDep,
    GroupUpdateBody,
    RuleCreateBody,
    RuleDep,
    RuleUpdateBody,
)
from app.sourcing.rules import RuleKind
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

router = APIRouter(tags=["sourcing"])

_LIST = problem_responses(401, 422)
_READ = problem_responses(401, 404)
_DELETE = problem_responses(401, 403, 404, 409, 412, 428)
_GROUP_RULES = (
    "a supplier or offer that does not exist; an offer of another supplier or listed twice"
)
_RULE_RULES = (
    "an item, location or supplier that does not exist or is retired; limit missing on a "
    "count kind or below 1 for min_suppliers; supplier or share missing on a share kind, or "
    "given on a count kind (the stored fields count on a change)"
)


def _created(response: Response, row: Any, url: str) -> None:
    set_etag(response, row)
    response.headers["Location"] = url


# ----------------------------------------------------------------- capacity groups


@router.get(
    "/capacity-groups",
    summary="List capacity groups",
    response_model=Page[CapacityGroupRead],
    responses=_LIST,
)
def list_groups(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    supplier_id: Annotated[str | None, Query(description="groups of this supplier")] = None,
) -> Any:
    """Offers of one supplier that share one capacity, by id."""
    return paginate(session, service.groups_query(supplier_id), page, CapacityGroupRead)


add_create(
    router,
    "/capacity-groups",
    name="create_group",
    summary="Add a capacity group",
    response_model=CapacityGroupRead,
    responses=problem_responses(401, 403, 409, 415, 422, beyond_schema=_GROUP_RULES),
    user=CatalogueManager,
    body=GroupCreateBody,
    create=service.create_group,
    url=service.group_url,
    openapi_extra=json_body(CapacityGroupCreate),
    doc="""Offers of one supplier that share one capacity (technical specialist or admin);
    another agency's long-term agreement joins only by its own specialists (403).""",
)
add_read(
    router,
    "/capacity-groups/{group_id}",
    name="read_group",
    summary="Read a capacity group",
    response_model=CapacityGroupRead,
    responses=_READ,
    user=CurrentUser,
    row=GroupDep,
)
add_update(
    router,
    "/capacity-groups/{group_id}",
    name="update_group",
    summary="Change a capacity group",
    response_model=CapacityGroupRead,
    responses=problem_responses(401, 403, 404, 409, 412, 415, 422, 428, beyond_schema=_GROUP_RULES),
    user=CatalogueManager,
    row=GroupDep,
    body=GroupUpdateBody,
    update=service.update_group,
    openapi_extra=json_body(CapacityGroupUpdate),
    doc="Change name, capacity or members (needs If-Match); `offer_ids` replaces them all.",
)
add_delete(
    router,
    "/capacity-groups/{group_id}",
    name="delete_group",
    summary="Delete a capacity group",
    responses=_DELETE,
    user=CatalogueManager,
    row=GroupDep,
    delete=service.delete_group,
    doc="Delete a group (needs If-Match); runs already made keep their own copy.",
)


# --------------------------------------------------------------------- award rules


@router.get(
    "/award-rules", summary="List award rules", response_model=Page[AwardRuleRead], responses=_LIST
)
def list_rules(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    item_id: Annotated[str | None, Query(description="rules on this item")] = None,
    kind: Annotated[RuleKind | None, Query(description="rules of this kind")] = None,
) -> Any:
    """The group's award rules by id, each with its penalty and reason."""
    return paginate(session, service.rules_query(item_id=item_id, kind=kind), page, AwardRuleRead)


add_create(
    router,
    "/award-rules",
    name="create_rule",
    summary="Add an award rule",
    response_model=AwardRuleRead,
    responses=problem_responses(401, 403, 409, 415, 422, beyond_schema=_RULE_RULES),
    user=CatalogueManager,
    body=RuleCreateBody,
    create=service.create_rule,
    url=service.rule_url,
    openapi_extra=json_body(AwardRuleCreate),
    doc="""A soft rule on an item (at a location, or everywhere): at most / at least so many
    suppliers, or a supplier's share capped or reserved; a plan that breaks it pays its
    penalty. Technical specialist or admin; every problem is listed in one 422.""",
)
add_read(
    router,
    "/award-rules/{rule_id:id}",
    name="read_rule",
    summary="Read an award rule",
    response_model=AwardRuleRead,
    responses=_READ,
    user=CurrentUser,
    row=RuleDep,
)
add_update(
    router,
    "/award-rules/{rule_id:id}",
    name="update_rule",
    summary="Change an award rule",
    response_model=AwardRuleRead,
    responses=problem_responses(401, 403, 404, 409, 412, 415, 422, 428, beyond_schema=_RULE_RULES),
    user=CatalogueManager,
    row=RuleDep,
    body=RuleUpdateBody,
    update=service.update_rule,
    openapi_extra=json_body(AwardRuleUpdate),
    doc="Change a rule's scope, limit, share, penalty or reason (needs If-Match).",
)
add_delete(
    router,
    "/award-rules/{rule_id:id}",
    name="delete_rule",
    summary="Delete an award rule",
    responses=_DELETE,
    user=CatalogueManager,
    row=RuleDep,
    delete=service.delete_rule,
)


# ---------------------------------------------------------------- supplier exclusions


@router.get(
    "/supplier-exclusions",
    summary="List supplier exclusions",
    response_model=Page[ExclusionRead],
    responses=_LIST,
)
def list_exclusions(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    agency_id: Annotated[str | None, Query(description="exclusions of this agency")] = None,
    supplier_id: Annotated[str | None, Query(description="exclusions of this supplier")] = None,
) -> Any:
    """Suppliers an agency may not buy from after its vetting, with the evidence."""
    stmt = service.exclusions_query(agency_id=agency_id, supplier_id=supplier_id)
    return paginate(session, stmt, page, ExclusionRead)


add_create(
    router,
    "/supplier-exclusions",
    name="create_exclusion",
    summary="Exclude a supplier for an agency",
    response_model=ExclusionRead,
    responses=problem_responses(
        401, 403, 409, 415, 422, beyond_schema="an agency or supplier that does not exist"
    ),
    user=CatalogueManager,
    body=ExclusionCreateBody,
    create=service.create_exclusion,
    url=service.exclusion_url,
    openapi_extra=json_body(ExclusionCreate),
    doc="""Record that an agency may not buy from a supplier, citing the evidence and its
    source: that agency's technical specialists or an admin (403 otherwise); 409 if
    already excluded. Runs of rounds that close afterwards leave the pair out.""",
)
add_read(
    router,
    "/supplier-exclusions/{exclusion_id}",
    name="read_exclusion",
    summary="Read a supplier exclusion",
    response_model=ExclusionRead,
    responses=_READ,
    user=CurrentUser,
    row=ExclusionDep,
)
add_delete(
    router,
    "/supplier-exclusions/{exclusion_id}",
    name="delete_exclusion",
    summary="Lift a supplier exclusion",
    responses=_DELETE,
    user=CatalogueManager,
    row=ExclusionDep,
    delete=service.delete_exclusion,
    doc="Lift an exclusion (needs If-Match): the agency's own specialists or an admin.",
)


# ------------------------------------------------------------------------- budgets


@router.get(
    "/rounds/{round_id}/budgets",
    summary="List a round's budgets",
    response_model=Page[BudgetRead],
    responses=problem_responses(401, 404, 422),
)
def list_budgets(round_: ValidRound, session: SessionDep, page: PageParamsDep) -> Any:
    """Each agency's cap on its direct spend in the round, by agency."""
    return paginate(session, service.budgets_query(round_.id), page, BudgetRead)


@router.post(
    "/rounds/{round_id}/budgets",
    summary="Set your agency's budget for a round",
    status_code=status.HTTP_201_CREATED,
    response_model=BudgetRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def create_budget(
    round_: ValidRound,
    body: BudgetCreate,
    user: BudgetSetter,
    idem: IdempotencyDep,
    session: SessionDep,
    response: Response,
) -> Any:
    """A chief of mission caps their own agency's direct spend in an open round; 409
    once it has one (change it) or once the round is closed."""
    if (replay := idem.replay()) is not None:
        return replay
    budget = service.create_budget(session, user, round_.id, body, idem)
    _created(response, budget, service.budget_url(budget))
    return budget


@router.get(
    "/budgets/{budget_id}", summary="Read a budget", response_model=BudgetRead, responses=_READ
)
def read_budget(budget: BudgetDep, response: Response) -> Any:
    set_etag(response, budget)
    return budget


@router.patch(
    "/budgets/{budget_id}",
    summary="Change a budget",
    response_model=BudgetRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
def update_budget(
    budget: BudgetDep,
    body: BudgetUpdate,
    user: BudgetSetter,
    if_match: IfMatchDep,
    session: SessionDep,
    response: Response,
) -> Any:
    """Change the amount or note (needs If-Match): the agency's chief, round open."""
    budget = service.update_budget(session, user, budget, body, if_match)
    set_etag(response, budget)
    return budget


@router.delete(
    "/budgets/{budget_id}",
    summary="Remove a budget",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE,
)
def delete_budget(
    budget: BudgetDep, user: BudgetSetter, if_match: IfMatchDep, session: SessionDep
) -> Response:
    """No cap any more (needs If-Match): the agency's chief, round open."""
    service.delete_budget(session, user, budget, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
