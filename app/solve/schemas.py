"""JSON Schemas of the problem and plan documents, for the OpenAPI description only.

The request body is validated by the solver itself (it reports every problem at once, with
cross-entity rules Pydantic alone cannot express), so these schemas document the contract;
they do not gate requests.
"""

from typing import Any

from solver import Problem

# Component names carry the contract version so other domains' models (a catalogue `Item`,
# a round's `Need`) never collide with them.
COMPONENT_PREFIX = "ProblemV1"


def problem_schema() -> dict[str, Any]:
    """The problem document's JSON Schema, with its definitions under `$defs`.

    References already point at `#/components/schemas/...`; `app.main` moves the `$defs`
    there when it builds the OpenAPI document.
    """
    schema = Problem.model_json_schema(
        ref_template=f"#/components/schemas/{COMPONENT_PREFIX}{{model}}"
    )
    definitions = schema.pop("$defs", {})
    # The solver checks this one with its cross-entry rules ("must list at least one
    # tier"); the schema states it too, so a document it calls valid is not refused for it.
    definitions["Offer"]["properties"]["price_tiers"]["minItems"] = 1
    # Dates are refused outside the years 1900 to 9000 (solver.problem._plausible_date).
    _plausible_years(schema)
    _plausible_years(definitions)
    schema["$defs"] = {f"{COMPONENT_PREFIX}{name}": body for name, body in definitions.items()}
    schema["title"] = "Problem document (contract v2; a v1 document is a v2 document)"
    return schema


PLAUSIBLE_YEAR = r"^(19[0-9]{2}|[2-8][0-9]{3}|9000)-"


def _plausible_years(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("format") == "date":
            node["pattern"] = PLAUSIBLE_YEAR
        for value in node.values():
            _plausible_years(value)
    elif isinstance(node, list):
        for value in node:
            _plausible_years(value)


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else list(properties),
    }


_NUM: dict[str, Any] = {"type": "number"}
_INT: dict[str, Any] = {"type": "integer"}
_STR: dict[str, Any] = {"type": "string"}
_DATE: dict[str, Any] = {"type": "string", "format": "date"}
_NULLABLE_NUM: dict[str, Any] = {"type": ["number", "null"]}

_NULLABLE_INT: dict[str, Any] = {"type": ["integer", "null"]}

PLAN_SCHEMA: dict[str, Any] = {
    "title": "Plan document (contract v2)",
    **_obj(
        {
            "status": {
                "type": "string",
                "enum": ["optimal", "feasible", "infeasible", "error"],
                "description": "feasible: the time limit stopped the search with the gap open",
            },
            "objective": _NULLABLE_NUM,
            "bound": _NULLABLE_NUM,
            "relative_gap": _NULLABLE_NUM,
            "purchase_cost": _NUM,
            "shipping_cost": _NUM,
            "money_cost": _NUM,
            "late_penalty": _NUM,
            "late_unit_days": _INT,
            "unmet_penalty": _NUM,
            "unmet_units": _INT,
            "unavoidable_penalty": {
                **_NUM,
                "description": "unmet penalty of the needs no plan can serve; the gap is "
                "measured on the objective without it",
            },
            "fees": _NUM,
            "rule_penalty": _NUM,
            "awards": {
                "type": "array",
                "items": _obj(
                    {
                        "need": _STR,
                        "offer": _STR,
                        "supplier": _STR,
                        "quantity": _INT,
                        "unit_price": _NUM,
                        "delivery_date": _DATE,
                        "late_days": _INT,
                    }
                ),
            },
            "orders": {
                "type": "array",
                "items": _obj(
                    {
                        "offer": _STR,
                        "supplier": _STR,
                        "item": _STR,
                        "quantity": _INT,
                        "tier_min_quantity": _INT,
                        "unit_price": _NUM,
                        "packs": _INT,
                        "surplus": _INT,
                        "goods_cost": _NUM,
                        "fee": _NUM,
                        "cost": _NUM,
                    }
                ),
            },
            "rules": {
                "type": "array",
                "items": _obj(
                    {
                        "rule": _STR,
                        "count": _NULLABLE_INT,
                        "share": _NULLABLE_NUM,
                        "violation": _NUM,
                        "penalty": _NUM,
                    }
                ),
            },
            "capacity_groups": {
                "type": "array",
                "items": _obj({"group": _STR, "quantity": _INT, "capacity": _INT}),
            },
            "shipments": {
                "type": "array",
                "items": _obj(
                    {
                        "supplier": _STR,
                        "location": _STR,
                        "quantity": _INT,
                        "fixed_cost": _NUM,
                        "unit_cost": _NUM,
                        "cost": _NUM,
                    }
                ),
            },
            "unmet": {
                "type": "array",
                "items": _obj(
                    {
                        "need": _STR,
                        "quantity": _INT,
                        "reason": {
                            "type": "string",
                            "enum": [
                                "no_offer",
                                "no_route",
                                "not_eligible",
                                "capacity",
                                "min_order",
                                "too_costly",
                                "budget",
                                "rule",
                            ],
                        },
                        "detail": _STR,
                    }
                ),
            },
            "agencies": {
                "type": "array",
                "items": _obj(
                    {
                        "agency": _STR,
                        "allocated_cost": _NUM,
                        "standalone_cost": _NUM,
                        "standalone_objective": _NUM,
                        "savings": _NUM,
                        "savings_pct": _NUM,
                        "direct_spend": _NUM,
                        "budget": _NULLABLE_NUM,
                    }
                ),
            },
            "baseline": _obj(
                {
                    "standalone_money_cost": _NUM,
                    "standalone_objective": _NUM,
                    "pooled_money_cost": _NUM,
                    "savings": _NUM,
                    "savings_pct": _NUM,
                }
            ),
            "solver": _obj({"name": _STR, "seconds": _NUM, "variables": _INT, "constraints": _INT}),
            "fairness": {
                **_obj(
                    {
                        "coalitions": _INT,
                        "exhaustive": {"type": "boolean"},
                        "stable": {"type": "boolean"},
                        "max_excess": _NUM,
                        "coalition": {"type": ["array", "null"], "items": _STR},
                        "epsilon": _NULLABLE_NUM,
                        "core_empty": {
                            "type": "boolean",
                            "description": "beyond the contract: no split at all is stable",
                        },
                        "agencies": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "agency": _STR,
                                    "objective_share": _NUM,
                                    "shapley": _NULLABLE_NUM,
                                }
                            ),
                        },
                    },
                    required=[
                        "coalitions",
                        "exhaustive",
                        "stable",
                        "max_excess",
                        "coalition",
                        "epsilon",
                        "agencies",
                    ],
                ),
                "description": "present when settings.fairness is core or the allocation "
                "least_core: the split checked against every coalition the contract names",
            },
        },
        required=["status"],
    ),
}
