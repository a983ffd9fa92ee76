"""The exact optimum of the contract's model by exhaustive enumeration, for tiny instances.

Every whole-unit award vector over the usable pairs is considered (each need's awards summing
to at most its quantity). Two enumerations are given: ``enumerate_plans`` walks every plan and
prices it from scratch with the checker's rules, which is obviously right and slow;
``brute_force_optimum`` walks the same plans need by need but merges partial plans that the
rest of the run cannot tell apart, which is fast enough for property tests. The tests check
that both agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from itertools import product
from typing import Any

from .checker import Figures, Model, RouteKey, feasibility_violations, recompute, tier_reached

Problem = Mapping[str, Any]
Vector = dict[str, int]  # offer id -> units of one need


def standalone_problem(problem: Problem, agency_id: str) -> dict[str, Any]:
    """The same run with only one agency's needs: every offer, route and setting stays, so
    that agency alone sees every offer's full capacity, and reference prices are unchanged."""
    return {**problem, "needs": [n for n in problem["needs"] if n["agency"] == agency_id]}


def award_vectors(model: Model, need_id: str) -> list[Vector]:
    """Every way to award whole units of one need over its usable offers."""
    offers = model.usable_offers(need_id)
    quantity = model.needs[need_id]["quantity"]
    return [
        dict(zip(offers, units, strict=True))
        for units in product(range(quantity + 1), repeat=len(offers))
        if sum(units) <= quantity
    ]


def plan_count(problem: Problem) -> int:
    """How many award vectors the plain enumeration walks."""
    model = Model(problem)
    return math.prod(len(award_vectors(model, need_id)) for need_id in model.needs)


def enumerate_plans(problem: Problem) -> Iterator[Figures]:
    """Every feasible plan, priced from scratch by the checker's rules."""
    model = Model(problem)
    need_ids = list(model.needs)
    for vectors in product(*(award_vectors(model, n) for n in need_ids)):
        awards = {
            (need_id, offer_id): units
            for need_id, vector in zip(need_ids, vectors, strict=True)
            for offer_id, units in vector.items()
            if units > 0
        }
        figures = recompute(model, awards)
        if not feasibility_violations(model, figures):
            yield figures


def naive_optimum(problem: Problem) -> float:
    return min(figures.objective for figures in enumerate_plans(problem))


def _additive_cost(model: Model, need_id: str, vector: Vector) -> float:
    """The part of the objective one need's awards add on their own: route unit costs, late
    penalties and the penalty of the units left unmet."""
    cost = 0.0
    for offer_id, units in vector.items():
        route = model.routes[model.route_of(need_id, offer_id)]
        delivery = model.delivery(need_id, offer_id)
        assert delivery is not None  # usable pairs have a route
        late = model.late_penalty_per_unit_day(need_id) * delivery.late_days
        cost += (route["unit_cost"] + late) * units
    unmet = model.needs[need_id]["quantity"] - sum(vector.values())
    return cost + model.unmet_penalty_per_unit(need_id) * unmet


def brute_force_optimum(problem: Problem) -> float:
    """The exact optimal objective of the pooled run."""
    model = Model(problem)
    offer_ids = list(model.offers)
    capacity = [model.offers[o]["capacity"] for o in offer_ids]
    # What a partial plan (over the needs seen so far) leaves for the rest of the run is its
    # pooled quantity per offer (tiers, MOQ, capacity) and the routes it already uses (fixed
    # costs); every other term of the objective adds up award by award. Keeping only the
    # cheapest partial plan per (pooled quantities, routes used) is therefore exact.
    State = tuple[tuple[int, ...], frozenset[RouteKey]]
    frontier: dict[State, float] = {((0,) * len(offer_ids), frozenset()): 0.0}
    for need_id in model.needs:
        options = [
            (
                tuple(vector.get(o, 0) for o in offer_ids),
                frozenset(model.route_of(need_id, o) for o, units in vector.items() if units),
                _additive_cost(model, need_id, vector),
            )
            for vector in award_vectors(model, need_id)
        ]
        extended: dict[State, float] = {}
        for (pooled, routes), cost in frontier.items():
            for units, used, added in options:
                grown = tuple(q + x for q, x in zip(pooled, units, strict=True))
                # Pooled quantities only grow, so a plan over capacity stays over it.
                if any(q > cap for q, cap in zip(grown, capacity, strict=True)):
                    continue
                state = (grown, routes | used)
                if cost + added < extended.get(state, math.inf):
                    extended[state] = cost + added
        frontier = extended

    best = math.inf
    for (pooled, routes), cost in frontier.items():
        total = cost + sum(model.routes[r]["fixed_cost"] for r in routes)
        for offer_id, quantity in zip(offer_ids, pooled, strict=True):
            if quantity == 0:
                continue
            offer = model.offers[offer_id]
            tier = tier_reached(offer, quantity)
            if tier is None or quantity < offer["min_order_quantity"]:
                total = math.inf
                break
            total += tier["unit_price"] * quantity
        best = min(best, total)
    return best


def brute_force_standalone(problem: Problem, agency_id: str) -> float:
    """The exact optimal objective of one agency buying alone."""
    return brute_force_optimum(standalone_problem(problem, agency_id))
