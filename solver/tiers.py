"""All-units price tiers as whole-unit quantity ranges an offer's pooled order can take.

Tier t prices every unit of an order Q with min_quantity(t) <= Q < min_quantity(t+1).
Cutting each range by the minimum order, the capacity and the demand that can
reach the offer at all gives the tight bounds the model's big-M terms rely on,
and drops tiers that no order could ever reach. An offer sold in packs orders a
whole number of packs, so its ranges hold multiples of the pack size only: the
fewest packs that hold the whole reachable demand at most.
"""

from dataclasses import dataclass

from solver.problem import Offer


@dataclass(frozen=True, slots=True)
class TierRange:
    tier: int
    lowest: int
    highest: int
    unit_price: float
    pack: int = 1


def packs_for(units: int, pack: int) -> int:
    """The fewest whole packs that hold `units`."""
    return -(-units // pack)


def reachable_tiers(offer: Offer, reachable_demand: int) -> list[TierRange]:
    """The tiers an order of this offer can fall in, with their whole-unit ranges."""
    pack = offer.pack_size
    top = min(offer.capacity // pack, packs_for(reachable_demand, pack)) * pack
    tiers = offer.price_tiers
    ranges: list[TierRange] = []
    for t, tier in enumerate(tiers):
        lowest = packs_for(max(tier.min_quantity, offer.min_order_quantity, 1), pack) * pack
        highest = top if t + 1 == len(tiers) else min(top, tiers[t + 1].min_quantity - 1)
        highest -= highest % pack
        if lowest <= highest:
            ranges.append(TierRange(t, lowest, highest, tier.unit_price, pack))
    return ranges


def tier_for_quantity(offer: Offer, quantity: int) -> int | None:
    """Index of the tier that prices an order of `quantity`, None below the first tier."""
    chosen = None
    for t, tier in enumerate(offer.price_tiers):
        if tier.min_quantity <= quantity:
            chosen = t
    return chosen


def needs_choice(ranges: list[TierRange]) -> bool:
    """Whether the model needs binaries for this offer.

    One range starting at the first pack (a single unit, without packs) is a plain
    linear cost with an upper bound; anything else (several prices, or a minimum
    order) is a yes/no decision.
    """
    return len(ranges) > 1 or (len(ranges) == 1 and ranges[0].lowest > ranges[0].pack)
