"""Validating dependencies of the sourcing routes: rows by id (404 once), roles, bodies.

Bodies are parsed with the catalogue's ``parse_body``: a body with a bad field and
a rule across fields or rows broken gets every problem in one 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.api.params import IdPath
from app.auth.deps import CurrentUser, require_roles
from app.auth.models import Role, User
from app.catalogue.deps import CatalogueManager, RawBody, parse_body
from app.db import SessionDep
from app.sourcing import service
from app.sourcing.models import AgencyBudget, AwardRule, CapacityGroup, SupplierExclusion
from app.sourcing.schemas import (
    AwardRuleCreate,
    AwardRuleUpdate,
    CapacityGroupCreate,
    CapacityGroupUpdate,
    ExclusionCreate,
)

# Budgets are a chief of mission's, for their own agency; nobody stands in for them.
BudgetSetter = Annotated[User, Depends(require_roles(Role.chief_of_mission))]


def valid_group_id(group_id: IdPath, session: SessionDep, _user: CurrentUser) -> CapacityGroup:
    return service.get_group(session, group_id)


def valid_rule_id(rule_id: IdPath, session: SessionDep, _user: CurrentUser) -> AwardRule:
    return service.get_rule(session, rule_id)


def valid_exclusion_id(
    exclusion_id: IdPath, session: SessionDep, _user: CurrentUser
) -> SupplierExclusion:
    return service.get_exclusion(session, exclusion_id)


def valid_budget_id(budget_id: IdPath, session: SessionDep, _user: CurrentUser) -> AgencyBudget:
    return service.get_budget(session, budget_id)


GroupDep = Annotated[CapacityGroup, Depends(valid_group_id)]
RuleDep = Annotated[AwardRule, Depends(valid_rule_id)]
ExclusionDep = Annotated[SupplierExclusion, Depends(valid_exclusion_id)]
BudgetDep = Annotated[AgencyBudget, Depends(valid_budget_id)]


def group_create_body(
    raw: RawBody, session: SessionDep, _u: CatalogueManager
) -> CapacityGroupCreate:
    return parse_body(CapacityGroupCreate, raw, lambda: service.group_issues(session, raw))


def group_update_body(
    raw: RawBody, group: GroupDep, session: SessionDep, _u: CatalogueManager
) -> CapacityGroupUpdate:
    return parse_body(CapacityGroupUpdate, raw, lambda: service.group_issues(session, raw, group))


def rule_create_body(raw: RawBody, session: SessionDep, _u: CatalogueManager) -> AwardRuleCreate:
    return parse_body(AwardRuleCreate, raw, lambda: service.rule_issues(session, raw))


def rule_update_body(
    raw: RawBody, rule: RuleDep, session: SessionDep, _u: CatalogueManager
) -> AwardRuleUpdate:
    return parse_body(AwardRuleUpdate, raw, lambda: service.rule_issues(session, raw, rule))


def exclusion_create_body(
    raw: RawBody, session: SessionDep, _u: CatalogueManager
) -> ExclusionCreate:
    return parse_body(ExclusionCreate, raw, lambda: service.exclusion_issues(session, raw))


GroupCreateBody = Annotated[CapacityGroupCreate, Depends(group_create_body)]
GroupUpdateBody = Annotated[CapacityGroupUpdate, Depends(group_update_body)]
RuleCreateBody = Annotated[AwardRuleCreate, Depends(rule_create_body)]
RuleUpdateBody = Annotated[AwardRuleUpdate, Depends(rule_update_body)]
ExclusionCreateBody = Annotated[ExclusionCreate, Depends(exclusion_create_body)]
