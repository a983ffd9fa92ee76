"""Validation of a problem document: every problem found, each with a JSON path.

Two passes over the same document: the Pydantic models check each field's type
and range, and the cross-checks below read the raw document tolerantly (skipping
whatever is malformed) for rules that span entities. Both run every time, so a
document with a bad quantity and a dangling reference reports both.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from pydantic import ValidationError

from solver.problem import Problem


@dataclass(frozen=True, order=True)
class Issue:
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


class ProblemInvalid(ValueError):
    """The document breaks the contract; `errors` lists every problem found."""

    def __init__(self, errors: list[Issue]) -> None:
        self.errors = errors
        count = len(errors)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the problem document")


def validate(document: Any) -> Problem:
    """Return the typed problem, or raise ProblemInvalid listing every problem."""
    if isinstance(document, Problem):
        return document
    if not isinstance(document, Mapping):
        raise ProblemInvalid([Issue("$", "the problem document must be a JSON object")])
    issues: set[Issue] = set()
    problem: Problem | None = None
    try:
        problem = Problem.model_validate(document)
    except ValidationError as exc:
        issues.update(_from_pydantic(exc))
    issues.update(_cross_checks(document))
    if issues:
        raise ProblemInvalid(sorted(issues, key=_path_order))
    assert problem is not None
    return problem


def with_settings(problem: Problem, **changes: Any) -> Problem:
    """The problem with some settings overridden (CLI flags, API limits, scenarios)."""
    try:
        return problem.with_settings(**changes)
    except ValidationError as exc:
        issues = [
            Issue("$.settings" + i.path.removeprefix("$"), i.reason) for i in _from_pydantic(exc)
        ]
        raise ProblemInvalid(sorted(issues, key=_path_order)) from None


def _path_order(issue: Issue) -> tuple[Any, ...]:
    # Sort $.needs[10] after $.needs[9], as a reader expects.
    parts: list[Any] = []
    for token in issue.path.replace("]", "").replace("[", ".").split("."):
        parts.append((0, int(token), "") if token.isdigit() else (1, 0, token))
    return (tuple(parts), issue.reason)


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _from_pydantic(exc: ValidationError) -> Iterator[Issue]:
    for error in exc.errors(include_url=False):
        # Pydantic names the validator function in loc for Annotated types; the
        # reader wants the document's own path only.
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        reason = error["msg"]
        if reason.startswith("Value error, "):
            reason = reason.removeprefix("Value error, ")
        if error["type"] == "missing":
            reason = "is required"
        elif error["type"] == "enum" and "priority" in loc:
            reason = "must be one of critical, high, normal"
        yield Issue(_json_path(loc), reason)


def _entries(document: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = document.get(key)
    if not isinstance(value, list):
        return []
    return [(i, entry) for i, entry in enumerate(value) if isinstance(entry, Mapping)]


def _ids(document: Mapping[str, Any], key: str) -> tuple[set[str], list[Issue]]:
    seen: dict[str, int] = {}
    issues: list[Issue] = []
    for i, entry in _entries(document, key):
        ident = entry.get("id")
        if not isinstance(ident, str):
            continue
        if ident in seen:
            issues.append(
                Issue(
                    f"$.{key}[{i}].id", f"duplicate id '{ident}' (first at $.{key}[{seen[ident]}])"
                )
            )
        else:
            seen[ident] = i
    return set(seen), issues


# The fields of each entry that name another entry: (field, collection named, noun).
_AGENCY, _ITEM = ("agency", "agencies", "agency"), ("item", "items", "item")
_LOCATION, _SUPPLIER = ("location", "locations", "location"), ("supplier", "suppliers", "supplier")
_REFERENCES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "needs": (_AGENCY, _ITEM, _LOCATION),
    "offers": (_SUPPLIER, _ITEM),
    "rules": (_ITEM, _LOCATION, _SUPPLIER),
}


def _cross_checks(document: Mapping[str, Any]) -> Iterator[Issue]:
    known: dict[str, set[str]] = {}
    for key in (
        "agencies",
        "items",
        "locations",
        "suppliers",
        "needs",
        "offers",
        "capacity_groups",
        "rules",
    ):
        known[key], duplicates = _ids(document, key)
        yield from duplicates

    def reference(path: str, value: Any, collection: str, noun: str) -> Iterator[Issue]:
        if isinstance(value, str) and value and value not in known[collection]:
            yield Issue(path, f"unknown {noun} '{value}'")

    def references(path: str, values: Any, collection: str, noun: str) -> Iterator[Issue]:
        """A list of references: each must exist, and none may be listed twice."""
        if not isinstance(values, list):
            return
        listed: set[str] = set()
        for j, value in enumerate(values):
            yield from reference(f"{path}[{j}]", value, collection, noun)
            # Only codes: an object or list here is a type error the field check reports
            # (and cannot go in a set).
            if not isinstance(value, str):
                continue
            if value in listed:
                yield Issue(f"{path}[{j}]", f"{noun} '{value}' listed twice")
            listed.add(value)

    for i, agency in _entries(document, "agencies"):
        yield from references(
            f"$.agencies[{i}].excluded_suppliers",
            agency.get("excluded_suppliers"),
            "suppliers",
            "supplier",
        )

    for key, fields in _REFERENCES.items():
        for i, entry in _entries(document, key):
            for field, collection, noun in fields:
                yield from reference(f"$.{key}[{i}].{field}", entry.get(field), collection, noun)

    for i, offer in _entries(document, "offers"):
        base = f"$.offers[{i}]"
        yield from references(
            f"{base}.eligible_agencies", offer.get("eligible_agencies"), "agencies", "agency"
        )
        yield from _tier_checks(base, offer.get("price_tiers"))

    for i, group in _entries(document, "capacity_groups"):
        yield from references(
            f"$.capacity_groups[{i}].offers", group.get("offers"), "offers", "offer"
        )

    for i, rule in _entries(document, "rules"):
        yield from _rule_checks(f"$.rules[{i}]", rule)

    first_route: dict[tuple[str, str], int] = {}
    for i, route in _entries(document, "routes"):
        base = f"$.routes[{i}]"
        supplier, location = route.get("supplier"), route.get("location")
        yield from reference(f"{base}.supplier", supplier, "suppliers", "supplier")
        yield from reference(f"{base}.location", location, "locations", "location")
        if isinstance(supplier, str) and isinstance(location, str):
            if (supplier, location) in first_route:
                yield Issue(
                    base,
                    f"a second route from '{supplier}' to '{location}' "
                    f"(first at $.routes[{first_route[supplier, location]}])",
                )
            else:
                first_route[supplier, location] = i


_COUNT_KINDS = {"max_suppliers": 0, "min_suppliers": 1}  # the least limit of each
_SHARE_KINDS = ("max_share", "min_share")


def _rule_checks(base: str, rule: Mapping[str, Any]) -> Iterator[Issue]:
    """What a rule's kind asks of its other fields (their types are the models' checks)."""
    kind = rule.get("kind")
    if not isinstance(kind, str):
        return  # not a kind at all: the field check says so (and a dict is no key)
    if kind in _COUNT_KINDS:
        limit = rule.get("limit")
        if limit is None:
            yield Issue(f"{base}.limit", f"is required for a {kind} rule")
        elif _is_number(limit) and 0 <= limit < _COUNT_KINDS[kind]:
            yield Issue(f"{base}.limit", f"must be at least {_COUNT_KINDS[kind]} for a {kind} rule")
        for field in ("supplier", "share"):
            if rule.get(field) is not None:
                yield Issue(
                    f"{base}.{field}",
                    f"applies only to max_share and min_share rules, not to a {kind} rule",
                )
    elif kind in _SHARE_KINDS:
        for field in ("supplier", "share"):
            if rule.get(field) is None:
                yield Issue(f"{base}.{field}", f"is required for a {kind} rule")
        if rule.get("limit") is not None:
            yield Issue(
                f"{base}.limit",
                f"applies only to max_suppliers and min_suppliers rules, not to a {kind} rule",
            )


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _tier_checks(base: str, tiers: Any) -> Iterator[Issue]:
    if not isinstance(tiers, list):
        return
    if not tiers:
        yield Issue(f"{base}.price_tiers", "must list at least one tier")
    for j, field, reason in tier_order_issues(tiers):
        yield Issue(f"{base}.price_tiers[{j}].{field}", reason)


def _number_or_none(field: str, value: Any) -> Any:
    return value if _is_number(value) else None


def tier_order_issues(
    tiers: Any,
    *,
    read: Callable[[str, Any], Any] = _number_or_none,
    names: Mapping[str, str] | None = None,
    show: Callable[[str, Any], str] = lambda field, value: str(value),
) -> Iterator[tuple[int, str, str]]:
    """Contract v1's tier rule, stated once: all-units tiers by rising ``min_quantity``,
    each ``unit_price`` not above the one before (volume discounts).

    Yields ``(index, field, reason)`` for every tier out of order. ``read`` gives a
    field's comparable value or None (not a number: the schema reports it, so this
    runs on raw bodies and spreadsheet rows too); ``names`` and ``show`` word the
    field and the previous value for the reader (a column, a currency amount).
    """
    if not isinstance(tiers, list):
        return
    label = {"min_quantity": "min_quantity", "unit_price": "unit_price", **(names or {})}
    previous: Mapping[str, Any] | None = None
    for j, tier in enumerate(tiers):
        if not isinstance(tier, Mapping):
            previous = None
            continue
        if previous is not None:
            low, high = (
                read("min_quantity", previous.get("min_quantity")),
                read("min_quantity", tier.get("min_quantity")),
            )
            if low is not None and high is not None and high <= low:
                shown = show("min_quantity", low)
                yield (
                    j,
                    "min_quantity",
                    f"must be greater than the previous tier's {label['min_quantity']} ({shown})",
                )
            before, price = (
                read("unit_price", previous.get("unit_price")),
                read("unit_price", tier.get("unit_price")),
            )
            if before is not None and price is not None and price > before:
                shown = show("unit_price", before)
                yield (
                    j,
                    "unit_price",
                    f"must not be above the previous tier's {label['unit_price']} ({shown}): "
                    "tiers are volume discounts",
                )
        previous = tier
