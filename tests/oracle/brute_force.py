"""The exact optimum of the contract's model by exhaustive enumeration, for tiny instances.

Every whole-unit award vector over the usable pairs is considered (each need's awards summing
to at most its quantity); for each, the rest of the plan has no choice left (the fewest packs,
the tier the order reaches, the routes used, each rule's violation are all functions of the
awards), so pricing it with the checker's rules solves what is left exactly. Two enumerations
are given: ``enumerate_plans`` walks every plan and prices it from scratch, which is obviously
right and slow; ``brute_force_optimum`` walks the same plans need by need but merges partial
plans that the rest of the run cannot tell apart, which is fast enough for property tests. The
tests check that both agree.

Coalition values ``v(S)`` are the same optimum over the needs of S's agencies alone (their
budgets, exclusions and the rules restricted to their awards; full capacities).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from itertools import product
from typing import Any

from .checker import (
    Coalition,
    Figures,
    Model,
    coalitions_to_check,
    feasibility_violations,
    recompute,
)

Problem = Mapping[str, Any]
Vector = dict[str, int]  # offer id -> units of one need


def coalition_problem(problem: Problem, agencies: Iterable[str]) -> dict[str, Any]:
    """The same run with only these agencies' needs: every offer, route, group, rule, budget
    and setting stays, so the coalition sees full capacities, and reference prices (which
    depend on offers only) are unchanged. Rules then only see the coalition's awards."""
    members = set(agencies)
    return {**problem, "needs": [n for n in problem["needs"] if n["agency"] in members]}


def standalone_problem(problem: Problem, agency_id: str) -> dict[str, Any]:
    return coalition_problem(problem, [agency_id])


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
    """The part of the objective one need's awards add on their own: late penalties and the
    penalty of the units left unmet (route unit costs add up too, but the final pricing
    counts them, as it counts everything else)."""
    cost = 0.0
    for offer_id, units in vector.items():
        delivery = model.delivery(need_id, offer_id)
        assert delivery is not None  # usable pairs have a route
        cost += model.late_penalty_per_unit_day(need_id) * delivery.late_days * units
    unmet = model.needs[need_id]["quantity"] - sum(vector.values())
    return cost + model.unmet_penalty_per_unit(need_id) * unmet


def optimal_plan(problem: Problem) -> Figures:
    """An exact optimal pooled plan (one of them)."""
    model = Model(problem)
    # What a partial plan (over the needs seen so far) leaves for the rest of the run is
    # captured by its awarded units per (offer, location, agency): the offer fixes item and
    # supplier, so these give every order's quantity (packs, tiers, MOQ, capacity, groups),
    # every route's flow, every rule's scope, count and share, and every agency's direct
    # spend. Everything else (late and unmet penalties) adds up need by need. Keeping only
    # the cheapest partial plan per aggregate is therefore exact; its awards stand for all.
    keys = sorted(
        {
            (o, model.needs[n]["location"], model.needs[n]["agency"])
            for n in model.needs
            for o in model.usable_offers(n)
        }
    )
    index = {key: k for k, key in enumerate(keys)}
    offer_of_slot = [key[0] for key in keys]
    Awards = tuple[tuple[tuple[str, str], int], ...]
    frontier: dict[tuple[int, ...], tuple[float, Awards]] = {(0,) * len(keys): (0.0, ())}
    for need_id, need in model.needs.items():
        options = []
        for vector in award_vectors(model, need_id):
            slots = [0] * len(keys)
            for offer_id, units in vector.items():
                slots[index[(offer_id, need["location"], need["agency"])]] += units
            picked = tuple(((need_id, o), u) for o, u in vector.items() if u)
            options.append((slots, picked, _additive_cost(model, need_id, vector)))
        extended: dict[tuple[int, ...], tuple[float, Awards]] = {}
        for state, (cost, awards) in frontier.items():
            for slots, picked, added in options:
                grown = tuple(q + x for q, x in zip(state, slots, strict=True))
                if not _within_capacity(model, offer_of_slot, grown):
                    continue  # awarded units only grow, and Q is at least them
                if cost + added < extended.get(grown, (math.inf, ()))[0]:
                    extended[grown] = (cost + added, awards + picked)
        frontier = extended

    best: Figures | None = None
    for _, awards in frontier.values():
        figures = recompute(model, dict(awards))
        if feasibility_violations(model, figures):
            continue
        if best is None or figures.objective < best.objective:
            best = figures
    assert best is not None, "leaving every need unmet is always a plan"
    return best


def _within_capacity(model: Model, offer_of_slot: list[str], state: tuple[int, ...]) -> bool:
    awarded: dict[str, int] = {}
    for offer_id, units in zip(offer_of_slot, state, strict=True):
        awarded[offer_id] = awarded.get(offer_id, 0) + units
    if any(units > model.offers[o]["capacity"] for o, units in awarded.items()):
        return False
    return all(
        sum(awarded.get(o, 0) for o in group["offers"]) <= group["capacity"]
        for group in model.groups.values()
    )


def brute_force_optimum(problem: Problem) -> float:
    """The exact optimal objective of the pooled run."""
    return optimal_plan(problem).objective


def brute_force_standalone(problem: Problem, agency_id: str) -> float:
    """The exact optimal objective of one agency buying alone."""
    return brute_force_optimum(standalone_problem(problem, agency_id))


def coalition_values(problem: Problem, *, grand: bool = True) -> dict[Coalition, float]:
    """v(S) for every coalition the contract names (and the grand coalition unless told)."""
    agencies = sorted({need["agency"] for need in problem["needs"]})
    coalitions, _ = coalitions_to_check(agencies)
    if grand and agencies:
        coalitions.append(frozenset(agencies))
    return {c: brute_force_optimum(coalition_problem(problem, c)) for c in coalitions}
