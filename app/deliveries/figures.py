"""What receipts mean, as pure functions of plain facts: a line's state, OTIF, lead times.

No database here: the service hands in ``LineFacts`` and ``ReceiptFacts``, so the
supplier record, the results and the lead-time rule all count the same way, and a
test can recompute every figure from the raw receipts.

Definitions (decisions recorded here, applied everywhere):

* **Effective receipts**: those no later receipt corrects. A correction states the
  corrected figures of the delivery it corrects, so the corrected one stops counting.
* **Accepted** units: received minus rejected, over the effective receipts. A line is
  **delivered** once accepted >= ordered.
* **State**, first that applies: ``closed_short`` (closed with less than ordered),
  ``delivered``, ``overdue`` (today after promised date + grace), ``partly_delivered``
  (something accepted), ``open``.
* **OTIF** of a line: the units accepted on or before the promised date plus the grace
  reach the ordered quantity. Counted over lines that are *due*: delivered, closed
  short, or past promised date + grace; a line neither due nor complete is not judged.
* **Realised lead time** of a delivery (an effective receipt with units received):
  days from the order's issue to its ``received_on``. The *offer's* realised lead
  time, which the next round's snapshot may use in place of ``lead_time_days``,
  takes out what is not the supplier's (the plan's processing and transit days):
  ``received_on - issued_on - processing_days - transit_days``, never below 0.
* **Percentiles**: linear interpolation between closest ranks (numpy's default), so
  p50 is the median.
* **Rejection rate**: rejected units / received units, over effective receipts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.deliveries.models import LineState, OrderLine


@dataclass(frozen=True)
class ReceiptFacts:
    id: int
    received_on: dt.date
    quantity_received: int
    quantity_rejected: int
    corrects_id: int | None = None

    @property
    def accepted(self) -> int:
        return self.quantity_received - self.quantity_rejected


@dataclass(frozen=True)
class LineFacts:
    id: int
    quantity: int
    promised_on: dt.date
    issued_on: dt.date
    processing_days: int
    transit_days: int
    unit_price: Decimal
    receipts: tuple[ReceiptFacts, ...]
    closed_short: bool = False


def effective(receipts: Iterable[ReceiptFacts]) -> list[ReceiptFacts]:
    """The receipts that count: every one that no other receipt corrects, by id."""
    listed = list(receipts)
    corrected = {r.corrects_id for r in listed if r.corrects_id is not None}
    return sorted((r for r in listed if r.id not in corrected), key=lambda r: r.id)


def accepted(line: LineFacts) -> int:
    return sum(r.accepted for r in effective(line.receipts))


def state(line: LineFacts, today: dt.date, grace_days: int) -> LineState:
    done = accepted(line)
    if line.closed_short and done < line.quantity:
        return LineState.closed_short
    if done >= line.quantity:
        return LineState.delivered
    if today > line.promised_on + dt.timedelta(days=grace_days):
        return LineState.overdue
    if done > 0:
        return LineState.partly_delivered
    return LineState.open


def is_due(line: LineFacts, today: dt.date, grace_days: int) -> bool:
    return state(line, today, grace_days) in (
        LineState.delivered,
        LineState.closed_short,
        LineState.overdue,
    )


def on_time_in_full(line: LineFacts, grace_days: int) -> bool:
    deadline = line.promised_on + dt.timedelta(days=grace_days)
    in_time = sum(r.accepted for r in effective(line.receipts) if r.received_on <= deadline)
    return in_time >= line.quantity


def otif(lines: Iterable[LineFacts], today: dt.date, grace_days: int) -> tuple[int, int]:
    """(lines on time in full, lines due): the rate is the first over the second."""
    due = [line for line in lines if is_due(line, today, grace_days)]
    return sum(on_time_in_full(line, grace_days) for line in due), len(due)


def deliveries(line: LineFacts) -> list[ReceiptFacts]:
    """The line's deliveries: effective receipts of at least one unit."""
    return [r for r in effective(line.receipts) if r.quantity_received > 0]


def order_to_receipt_days(line: LineFacts) -> list[int]:
    return [(r.received_on - line.issued_on).days for r in deliveries(line)]


def offer_lead_days(line: LineFacts) -> list[tuple[dt.date, int]]:
    """(received on, the offer's realised lead time) of each of the line's deliveries."""
    own = line.processing_days + line.transit_days
    return [
        (r.received_on, max(0, (r.received_on - line.issued_on).days - own))
        for r in deliveries(line)
    ]


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The ``pct``-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * min(max(pct, 0.0), 100.0) / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def rejection(lines: Iterable[LineFacts]) -> tuple[int, int]:
    """(units rejected, units received) over the lines' effective receipts."""
    rejected = received = 0
    for line in lines:
        for r in effective(line.receipts):
            rejected += r.quantity_rejected
            received += r.quantity_received
    return rejected, received


def ratio(part: int | float, whole: int | float) -> float | None:
    return None if not whole else round(part / whole, 6)


def facts(line: OrderLine) -> LineFacts:
    """The facts of a stored line (its order and receipts loaded)."""
    return LineFacts(
        id=line.id,
        quantity=line.quantity,
        promised_on=line.promised_on,
        issued_on=line.order.issued_on,
        processing_days=line.processing_days,
        transit_days=line.transit_days,
        unit_price=line.unit_price,
        closed_short=line.closed_short_at is not None,
        receipts=tuple(
            ReceiptFacts(
                r.id, r.received_on, r.quantity_received, r.quantity_rejected, r.corrects_id
            )
            for r in line.receipts
        ),
    )
