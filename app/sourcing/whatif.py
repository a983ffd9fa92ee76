"""A scenario's changes to a run's sourcing: drop or change one rule, change one budget.

A run's document is frozen; a scenario solves a copy with other settings and, here,
with one rule dropped or changed and one agency's budget changed or removed, so the
coordinator sees what a rule or a budget costs the group (the scenario's objective
and money cost beside the run's). The allocation rule is a setting, changed as the
other settings are. ``issues`` lists every change that does not fit the document;
``apply`` returns the changed copy (the run's own document is never touched).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.catalogue.schemas import MoneyIn
from app.errors import FieldIssue
from app.sourcing.schemas import Limit, Penalty, Share


class RuleChange(BaseModel):
    """New figures for one rule of the run's document (``r-<id>``); unset ones stay."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=64, examples=["r-3"])]
    limit: Limit | None = None
    share: Share | None = None
    penalty: Penalty | None = None


class BudgetChange(BaseModel):
    """One agency's budget in the scenario: an amount, or null (or none given) for no cap."""

    model_config = ConfigDict(extra="forbid")

    agency: Annotated[str, Field(min_length=1, max_length=16, examples=["UNHCR"])]
    amount: MoneyIn | None = None


class SourcingChanges(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"drop_rule": "r-3"},
                {"rule": {"id": "r-3", "limit": 1}},
                {"budget": {"agency": "UNHCR", "amount": None}},
            ]
        },
    )

    drop_rule: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="a rule of the run's document left out"
    )
    rule: RuleChange | None = Field(default=None, description="a rule with other figures")
    budget: BudgetChange | None = Field(default=None, description="an agency's budget changed")


def issues(document: Mapping[str, Any], changes: SourcingChanges, base: str) -> list[FieldIssue]:
    """Every change that names what the document does not hold, or mixes kinds."""
    rules = {r["id"]: r for r in document.get("rules", []) or []}
    agencies = {a["id"] for a in document.get("agencies", [])}
    found: list[FieldIssue] = []
    if changes.drop_rule is not None and changes.drop_rule not in rules:
        found.append(FieldIssue(f"{base}.drop_rule", f"the run has no rule {changes.drop_rule!r}"))
    if changes.rule is not None:
        rule = rules.get(changes.rule.id)
        path = f"{base}.rule"
        if rule is None:
            found.append(FieldIssue(f"{path}.id", f"the run has no rule {changes.rule.id!r}"))
        else:
            counts = rule["kind"] in ("max_suppliers", "min_suppliers")
            if counts and changes.rule.share is not None:
                found.append(
                    FieldIssue(f"{path}.share", f"{rule['kind']} has a limit, not a share")
                )
            if not counts and changes.rule.limit is not None:
                found.append(
                    FieldIssue(f"{path}.limit", f"{rule['kind']} has a share, not a limit")
                )
            if rule["kind"] == "min_suppliers" and changes.rule.limit == 0:
                found.append(FieldIssue(f"{path}.limit", "must be at least 1 for min_suppliers"))
        if changes.drop_rule is not None and changes.drop_rule == changes.rule.id:
            found.append(FieldIssue(f"{path}.id", "the same rule cannot be dropped and changed"))
    if changes.budget is not None and changes.budget.agency not in agencies:
        found.append(
            FieldIssue(f"{base}.budget.agency", f"no agency {changes.budget.agency!r} in the run")
        )
    return found


def _number(value: Decimal | int) -> float | int:
    return value if isinstance(value, int) else float(value)


def apply(document: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The document with ``changes`` (a stored ``SourcingChanges``, as JSON) made."""
    asked = SourcingChanges.model_validate(changes)
    rules = []
    for rule in document.get("rules", []) or []:
        if rule["id"] == asked.drop_rule:
            continue
        if asked.rule is not None and rule["id"] == asked.rule.id:
            new = asked.rule.model_dump(exclude_none=True, exclude={"id"})
            rule = {**rule, **{k: _number(v) for k, v in new.items()}}
        rules.append(rule)
    agencies = [
        {**a, "budget": float(asked.budget.amount) if asked.budget.amount is not None else None}
        if asked.budget is not None and a["id"] == asked.budget.agency
        else a
        for a in document.get("agencies", [])
    ]
    return {**document, "rules": rules, "agencies": agencies}
