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


@router.post(
    "/capacity-groups",
    summary="Add a capacity group",
    status_code=status.HTTP_201_CREATED,
    response_model=CapacityGroupRead,
    responses=problem_responses(401, 403, 409, 415, 422, beyond_schema=_GROUP_RULES),
    openapi_extra=json_body(CapacityGroupCreate),
)
def create_group(
    user: CatalogueManager,
    idem: IdempotencyDep,
    body: GroupCreateBody,
    session: SessionDep,
    response: Response,
) -> Any:
    """Offers of one supplier that share one capacity (technical specialist or admin);
    another agency's long-term agreement joins only by its own specialists (403)."""
    if (replay := idem.replay()) is not None:
        return replay
    group = service.create_group(session, user, body, idem)
    _created(response, group, service.group_url(group))
    return group


@router.get(
    "/capacity-groups/{group_id}",
    summary="Read a capacity group",
    response_model=CapacityGroupRead,
    responses=_READ,
)
def read_group(group: GroupDep, response: Response) -> Any:
    set_etag(response, group)
    return group


@router.patch(
    "/capacity-groups/{group_id}",
    summary="Change a capacity group",
    response_model=CapacityGroupRead,
    responses=problem_responses(401, 403, 404, 409, 412, 415, 422, 428, beyond_schema=_GROUP_RULES),
    openapi_extra=json_body(CapacityGroupUpdate),
)
def update_group(
    user: CatalogueManager,
    group: GroupDep,
    if_match: IfMatchDep,
    body: GroupUpdateBody,
    session: SessionDep,
    response: Response,
) -> Any:
    """Change name, capacity or members (needs If-Match); `offer_ids` replaces them all."""
    group = service.update_group(session, user, group, body, if_match)
    set_etag(response, group)
    return group


@router.delete(
    "/capacity-groups/{group_id}",
    summary="Delete a capacity group",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE,
)
def delete_group(
    user: CatalogueManager, group: GroupDep, if_match: IfMatchDep, session: SessionDep
) -> Response:
    """Delete a group (needs If-Match); runs already made keep their own copy."""
    service.delete_group(session, user, group, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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


@router.post(
    "/award-rules",
    summary="Add an award rule",
    status_code=status.HTTP_201_CREATED,
    response_model=AwardRuleRead,
    responses=problem_responses(401, 403, 409, 415, 422, beyond_schema=_RULE_RULES),
    openapi_extra=json_body(AwardRuleCreate),
)
def create_rule(
    user: CatalogueManager,
    idem: IdempotencyDep,
    body: RuleCreateBody,
    session: SessionDep,
    response: Response,
) -> Any:
    """A soft rule on an item (at a location, or everywhere): at most / at least so many
    suppliers, or a supplier's share capped or reserved; a plan that breaks it pays its
    penalty. Technical specialist or admin; every problem is listed in one 422."""
    if (replay := idem.replay()) is not None:
        return replay
    rule = service.create_rule(session, user, body, idem)
    _created(response, rule, service.rule_url(rule))
    return rule


@router.get(
    "/award-rules/{rule_id}",
    summary="Read an award rule",
    response_model=AwardRuleRead,
    responses=_READ,
)
def read_rule(rule: RuleDep, response: Response) -> Any:
    set_etag(response, rule)
    return rule


@router.patch(
    "/award-rules/{rule_id}",
    summary="Change an award rule",
    response_model=AwardRuleRead,
    responses=problem_responses(401, 403, 404, 409, 412, 415, 422, 428, beyond_schema=_RULE_RULES),
    openapi_extra=json_body(AwardRuleUpdate),
)
def update_rule(
    user: CatalogueManager,
    rule: RuleDep,
    if_match: IfMatchDep,
    body: RuleUpdateBody,
    session: SessionDep,
    response: Response,
) -> Any:
    """Change a rule's scope, limit, share, penalty or reason (needs If-Match)."""
    rule = service.update_rule(session, user, rule, body, if_match)
    set_etag(response, rule)
    return rule


@router.delete(
    "/award-rules/{rule_id}",
    summary="Delete an award rule",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE,
)
def delete_rule(
    user: CatalogueManager, rule: RuleDep, if_match: IfMatchDep, session: SessionDep
) -> Response:
    service.delete_rule(session, user, rule, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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


@router.post(
    "/supplier-exclusions",
    summary="Exclude a supplier for an agency",
    status_code=status.HTTP_201_CREATED,
    response_model=ExclusionRead,
    responses=problem_responses(
        401, 403, 409, 415, 422, beyond_schema="an agency or supplier that does not exist"
    ),
    openapi_extra=json_body(ExclusionCreate),
)
def create_exclusion(
    user: CatalogueManager,
    idem: IdempotencyDep,
    body: ExclusionCreateBody,
    session: SessionDep,
    response: Response,
) -> Any:
    """Record that an agency may not buy from a supplier, citing the evidence and its
    source: that agency's technical specialists or an admin (403 otherwise); 409 if
    already excluded. Runs of rounds that close afterwards leave the pair out."""
    if (replay := idem.replay()) is not None:
        return replay
    exclusion = service.create_exclusion(session, user, body, idem)
    _created(response, exclusion, service.exclusion_url(exclusion))
    return exclusion


@router.get(
    "/supplier-exclusions/{exclusion_id}",
    summary="Read a supplier exclusion",
    response_model=ExclusionRead,
    responses=_READ,
)
def read_exclusion(exclusion: ExclusionDep, response: Response) -> Any:
    set_etag(response, exclusion)
    return exclusion


@router.delete(
    "/supplier-exclusions/{exclusion_id}",
    summary="Lift a supplier exclusion",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE,
)
def delete_exclusion(
    user: CatalogueManager, exclusion: ExclusionDep, if_match: IfMatchDep, session: SessionDep
) -> Response:
    """Lift an exclusion (needs If-Match): the agency's own specialists or an admin."""
    service.delete_exclusion(session, user, exclusion, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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
