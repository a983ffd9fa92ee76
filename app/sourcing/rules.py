"""The shapes of contract v2's award rules: which fields each kind takes. Pure Python.

Kept free of the database and the web, so the spreadsheet parsers (which must not
import either) check a rules sheet's rows with the same statement the API uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class RuleKind(StrEnum):
    max_suppliers = "max_suppliers"
    min_suppliers = "min_suppliers"
    max_share = "max_share"
    min_share = "min_share"


COUNT_KINDS = frozenset({RuleKind.max_suppliers, RuleKind.min_suppliers})
SHARE_KINDS = frozenset({RuleKind.max_share, RuleKind.min_share})


def kind_field_issues(rule: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) for each field a rule of its kind lacks or must not have.

    The one statement of the rule shapes in the service: the API's bodies (through
    ``app.sourcing.service.rule_issues``, on the stored fields merged with a change)
    and a rules sheet's rows (``app.exchange.spreadsheets``) are both checked by it.
    """
    try:
        kind = RuleKind(str(rule.get("kind")))
    except ValueError:
        return []  # the kind itself is refused where it is read
    issues = []
    if kind in COUNT_KINDS:
        issues += [
            (key, f"a {kind.value} rule counts suppliers: no {key}")
            for key in ("supplier_id", "share")
            if rule.get(key) is not None
        ]
        limit = rule.get("limit")
        if limit is None:
            issues.append(("limit", f"a {kind.value} rule needs a limit"))
        elif kind is RuleKind.min_suppliers and isinstance(limit, int) and limit < 1:
            issues.append(("limit", "must be at least 1 for min_suppliers"))
    elif kind in SHARE_KINDS:
        if rule.get("limit") is not None:
            issues.append(("limit", f"a {kind.value} rule has a share, not a limit"))
        issues += [
            (key, f"a {kind.value} rule needs a {key}")
            for key in ("supplier_id", "share")
            if rule.get(key) is None
        ]
    return issues
