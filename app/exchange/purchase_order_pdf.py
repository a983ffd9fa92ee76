"""A purchase order as a printable PDF: one document per supplier of a run's plan.

Made with fpdf2 (no browser, no system fonts): the order's number, the round and run it
comes from, the supplier, its lines (item, quantity, price tier, unit price, cost), where
and when each part is to be delivered and for which agency's need, the shipping per
location and the totals. The figures are ``app.runs.outputs.purchase_orders``' own.

fpdf2's built-in fonts cover Latin-1, which holds the group's Spanish and French names;
a character outside it (a dash, a minus) is written as its nearest Latin-1 equal.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from fpdf import FPDF
from fpdf.fonts import FontFace

from app.runs.schemas import PurchaseOrder

MEDIA_TYPE = "application/pdf"

_NEAREST = {
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\u00a0": " ",
    "\u202f": " ",
}


def latin1(text: str) -> str:
    """``text`` in the characters the PDF's built-in fonts have."""
    out = []
    for char in text:
        char = _NEAREST.get(char, char)
        try:
            char.encode("latin-1")
        except UnicodeEncodeError:
            char = (
                unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
                or "?"
            )
        out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class OrderContext:
    """What the order document says about where it comes from."""

    round_name: str
    run_number: int
    binding: bool
    order_date: dt.date | None
    location_names: Mapping[str, str]


def _money(value: float, places: int = 2) -> str:
    return f"{Decimal(str(value)):,.{places}f}"


def _count(value: int) -> str:
    return f"{value:,}"


class _Document(FPDF):
    def __init__(self, number: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.number = number
        self.set_title(latin1(f"Purchase order {number}"))
        self.set_author("poolbuy")
        self.set_creator("poolbuy")
        self.set_auto_page_break(auto=True, margin=15)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, f"{self.number} - page {self.page_no()} of {{nb}}", align="C")


_HEAD = FontFace(emphasis="BOLD", fill_color=(230, 234, 238))


def _table(
    pdf: FPDF, title: str, columns: list[tuple[str, int, str]], rows: list[list[str]]
) -> None:
    """A titled table: columns as (heading, width in mm, alignment)."""
    pdf.set_font("Helvetica", style="B", size=12)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    with pdf.table(
        col_widths=tuple(width for _h, width, _a in columns),
        text_align=tuple(align for _h, _w, align in columns),
        headings_style=_HEAD,
    ) as table:
        table.row([latin1(heading) for heading, _w, _a in columns])
        for row in rows:
            table.row([latin1(cell) for cell in row])
    pdf.ln(3)


def purchase_order_pdf(order: PurchaseOrder, context: OrderContext) -> bytes:
    pdf = _Document(order.number)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(0, 10, latin1(f"Purchase order {order.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    status = (
        "binding: approved by every agency's chief of mission"
        if context.binding
        else "NOT YET BINDING: the plan awaits the chiefs of mission's approval"
    )
    facts = [
        ("Supplier", f"{order.supplier_name or order.supplier} ({order.supplier})"),
        ("Round", context.round_name),
        ("Plan", f"run #{context.run_number}, {status}"),
        ("Order date", context.order_date.isoformat() if context.order_date else "-"),
        ("Currency", order.currency),
    ]
    for label, value in facts:
        pdf.set_font("Helvetica", style="B", size=10)
        pdf.cell(30, 6, latin1(label))
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(0, 6, latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    _table(
        pdf,
        "Lines",
        [
            ("Item", 70, "LEFT"),
            ("Quantity", 25, "RIGHT"),
            ("Tier from", 25, "RIGHT"),
            (f"Unit price ({order.currency})", 30, "RIGHT"),
            (f"Cost ({order.currency})", 30, "RIGHT"),
        ],
        [
            [
                f"{line.item_name or line.item} ({line.item})",
                f"{_count(line.quantity)} {line.unit}",
                _count(line.tier_min_quantity),
                _money(line.unit_price, 4),
                _money(line.cost),
            ]
            for line in order.lines
        ],
    )
    deliveries = sorted(
        ((line, award) for line in order.lines for award in line.awards),
        key=lambda la: (la[1].delivery_date, la[1].location, la[0].item, la[1].need),
    )
    _table(
        pdf,
        "Deliveries",
        [
            ("Item", 50, "LEFT"),
            ("Deliver to", 50, "LEFT"),
            ("Quantity", 22, "RIGHT"),
            ("Deliver by", 28, "LEFT"),
            ("For", 30, "LEFT"),
        ],
        [
            [
                line.item_name or line.item,
                context.location_names.get(award.location, award.location),
                _count(award.quantity),
                award.delivery_date.isoformat(),
                f"{award.agency}, need #{award.need_id or award.need}",
            ]
            for line, award in deliveries
        ],
    )
    if order.deliveries:
        _table(
            pdf,
            "Shipping",
            [
                ("Location", 80, "LEFT"),
                ("Units", 25, "RIGHT"),
                ("Fixed", 25, "RIGHT"),
                ("Per unit", 25, "RIGHT"),
                ("Cost", 25, "RIGHT"),
            ],
            [
                [
                    d.location_name or d.location,
                    _count(d.quantity),
                    _money(d.fixed_cost),
                    _money(d.unit_cost, 4),
                    _money(d.cost),
                ]
                for d in order.deliveries
            ],
        )

    pdf.set_font("Helvetica", size=10)
    for name, amount in (
        ("Goods", order.goods_cost),
        ("Shipping", order.shipping_cost),
        ("Total", order.total_cost),
    ):
        pdf.set_font("Helvetica", style="B" if name == "Total" else "", size=10)
        pdf.cell(150, 6, name, align="R")
        pdf.cell(
            30, 6, f"{_money(amount)} {order.currency}", align="R", new_x="LMARGIN", new_y="NEXT"
        )
    return bytes(pdf.output())
