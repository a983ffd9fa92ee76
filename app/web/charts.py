"""Charts as SVG drawn on the server: no script, no chart library, nothing fetched.

Each function takes plain numbers and returns an ``<svg>`` string that scales to
its container (``viewBox``, width 100%). Every text placed in it is escaped here.
Each chart is an image with a title and a description that reads out the values
(``role="img"``, ``aria-labelledby``); the pages also show the same figures in a
table, so nothing is only in a picture. Colours are the Okabe-Ito palette, which
stays distinguishable with the common colour-vision deficiencies, and nothing is
told by colour alone (negative savings carry a minus sign, categories are named
in the legend and in each cell's tooltip).

Only presentation attributes are used (``fill``, ``font-size``), never ``style``:
the pages' Content-Security-Policy refuses inline styles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from xml.sax.saxutils import escape, quoteattr

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#D55E00", "#000000")
POSITIVE = "#009E73"
NEGATIVE = "#D55E00"
INK = "#1f2328"
MUTED = "#59636e"
GRID = "#d0d7de"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

_ids = count(1)


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, content: str, **attributes: str | float) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(str(v))}" for k, v in attributes.items())
    return f'<text x="{_num(x)}" y="{_num(y)}"{extra}>{escape(content)}</text>'


def _open(
    width: float, height: float, title: str, desc: str, css_class: str, font_size: int = 12
) -> list[str]:
    title_id, desc_id = _id("chart-title"), _id("chart-desc")
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'width="100%" role="img" aria-labelledby="{title_id} {desc_id}" '
        f'class="chart {css_class}" font-family={quoteattr(FONT)} font-size="{font_size}" '
        f'fill="{INK}">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(desc)}</desc>',
    ]


def nice_ticks(low: float, high: float, count_wanted: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high < low:
        low, high = high, low
    if high == low:
        high = low + 1
    raw = (high - low) / max(count_wanted, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def short_number(value: float) -> str:
    """12345 -> "12.3k", 2500000 -> "2.5M": axis labels that fit a phone screen."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


# ----------------------------------------------------------------------- bar chart


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    note: str = ""  # shown after the value, e.g. "12.5 %"


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    unit: str = "",
    fmt: Callable[[float], str] | None = None,
    width: int = 560,
) -> str:
    """Horizontal bars from a zero line; negative values to the left, in another colour."""
    show = fmt or (lambda v: f"{v:,.2f}")
    label_w, value_w, row_h, top, bottom = 96, 150, 30, 12, 30
    area = width - label_w - value_w
    height = top + row_h * max(len(bars), 1) + bottom
    values = [b.value for b in bars] or [0.0]
    low, high = min(0.0, *values), max(0.0, *values)
    span = (high - low) or 1.0

    def x_of(v: float) -> float:
        return label_w + (v - low) / span * area

    zero = x_of(0.0)
    desc = (
        "; ".join(
            f"{b.label}: {show(b.value)} {unit}{' ' + b.note if b.note else ''}" for b in bars
        )
        or "no data"
    )
    out = _open(width, height, title, desc, "bar-chart", font_size=13)
    for tick in nice_ticks(low, high, 4):
        if low - 1e-9 <= tick <= high + 1e-9:
            x = x_of(tick)
            out.append(
                f'<line x1="{_num(x)}" y1="{top}" x2="{_num(x)}" '
                f'y2="{_num(height - bottom)}" stroke="{GRID}" stroke-width="1"/>'
            )
            out.append(
                _text(
                    x,
                    height - bottom + 16,
                    short_number(tick),
                    text_anchor="middle",
                    fill=MUTED,
                    font_size=11,
                )
            )
    for i, bar in enumerate(bars):
        y = top + i * row_h
        x_end = x_of(bar.value)
        left, right = min(zero, x_end), max(zero, x_end)
        colour = NEGATIVE if bar.value < 0 else POSITIVE
        label = f"{bar.label}: {show(bar.value)} {unit}".strip()
        out.append(
            f'<rect x="{_num(left)}" y="{_num(y + 6)}" width="{_num(max(right - left, 1))}" '
            f'height="{row_h - 12}" fill="{colour}" rx="2"><title>{escape(label)}</title></rect>'
        )
        out.append(_text(label_w - 8, y + row_h / 2 + 4, bar.label, text_anchor="end"))
        value_text = show(bar.value) + (f" ({bar.note})" if bar.note else "")
        out.append(_text(label_w + area + 8, y + row_h / 2 + 4, value_text))
    out.append(
        f'<line x1="{_num(zero)}" y1="{top}" x2="{_num(zero)}" y2="{_num(height - bottom)}" '
        f'stroke="{INK}" stroke-width="1"/>'
    )
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------------- line chart


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str = ""


def line_chart(
    points: Sequence[Point],
    *,
    title: str,
    x_label: str,
    y_label: str,
    point_label: str = "",
    width: int = 640,
    height: int = 320,
) -> str:
    """Points joined in order of x, each marked and labelled: a cost-lateness frontier."""
    ordered = sorted(points, key=lambda p: (p.x, p.y))
    left, right, top, bottom = 70, 20, 16, 48
    area_w, area_h = width - left - right, height - top - bottom
    xs = [p.x for p in ordered] or [0.0]
    ys = [p.y for p in ordered] or [0.0]
    x_ticks = nice_ticks(min(0.0, min(xs)), max(xs), 5)
    y_ticks = nice_ticks(min(ys), max(ys), 5)
    x_low, x_high = x_ticks[0], x_ticks[-1]
    y_low, y_high = y_ticks[0], y_ticks[-1]

    def px(v: float) -> float:
        return left + (v - x_low) / ((x_high - x_low) or 1) * area_w

    def py(v: float) -> float:
        return top + area_h - (v - y_low) / ((y_high - y_low) or 1) * area_h

    desc = (
        "; ".join(
            f"{p.label + ': ' if p.label else ''}{x_label} {short_number(p.x)}, "
            f"{y_label} {short_number(p.y)}"
            for p in ordered
        )
        or "no data"
    )
    out = _open(width, height, title, desc, "line-chart")
    for tick in y_ticks:
        y = py(tick)
        out.append(
            f'<line x1="{left}" y1="{_num(y)}" x2="{width - right}" y2="{_num(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(
            _text(left - 6, y + 4, short_number(tick), text_anchor="end", fill=MUTED, font_size=11)
        )
    for tick in x_ticks:
        x = px(tick)
        out.append(
            f'<line x1="{_num(x)}" y1="{top + area_h}" x2="{_num(x)}" y2="{top + area_h + 4}" '
            f'stroke="{INK}" stroke-width="1"/>'
        )
        out.append(
            _text(
                x,
                top + area_h + 16,
                short_number(tick),
                text_anchor="middle",
                fill=MUTED,
                font_size=11,
            )
        )
    out.append(
        f'<line x1="{left}" y1="{top + area_h}" x2="{width - right}" y2="{top + area_h}" '
        f'stroke="{INK}" stroke-width="1"/>'
    )
    out.append(_text(left + area_w / 2, height - 8, x_label, text_anchor="middle"))
    out.append(
        f'<text x="14" y="{_num(top + area_h / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_num(top + area_h / 2)})">{escape(y_label)}</text>'
    )
    if ordered:
        path = " ".join(f"{_num(px(p.x))},{_num(py(p.y))}" for p in ordered)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>'
        )
    # Points that fall on (nearly) the same spot share one label, not a smudge of several.
    groups: list[list[Point]] = []
    for p in ordered:
        last = groups[-1][-1] if groups else None
        if last is not None and abs(px(p.x) - px(last.x)) + abs(py(p.y) - py(last.y)) < 8:
            groups[-1].append(p)
        else:
            groups.append([p])
    for group in groups:
        for p in group:
            tip = f"{p.label + ': ' if p.label else ''}{short_number(p.x)} / {short_number(p.y)}"
            out.append(
                f'<circle cx="{_num(px(p.x))}" cy="{_num(py(p.y))}" r="4" fill="{PALETTE[0]}">'
                f"<title>{escape(tip)}</title></circle>"
            )
        label = ", ".join(p.label for p in group if p.label)
        if label:
            first = group[0]
            out.append(_text(px(first.x) + 6, py(first.y) - 6, label, font_size=11, fill=MUTED))
    if point_label:
        out.append(
            _text(width - right, top + 12, point_label, text_anchor="end", font_size=11, fill=MUTED)
        )
    out.append("</svg>")
    return "\n".join(out)


# -------------------------------------------------------------------------- matrix


@dataclass(frozen=True)
class MatrixCell:
    category: str
    needed: int
    awarded: int


def matrix_chart(
    rows: Sequence[tuple[str, str]],
    columns: Sequence[str],
    cells: Mapping[tuple[str, str], Sequence[MatrixCell]],
    *,
    title: str,
    width: int = 820,
) -> str:
    """Who-what-where: a grid of ``rows`` (id, label) x ``columns``; each cell a bar of its
    categories' needed units (stacked, one colour per category, lengths to one scale) and
    the share awarded underneath."""
    categories = sorted({c.category for entries in cells.values() for c in entries})
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}
    label_w, header_h, legend_h, row_h, right = 190, 34, 44, 46, 12
    col_w = (width - label_w - right) / max(len(columns), 1)
    height = legend_h + header_h + row_h * max(len(rows), 1) + 8
    totals = [sum(c.needed for c in entries) for entries in cells.values()]
    scale = max(totals, default=0) or 1

    lines = []
    for (row_id, column), entries in sorted(cells.items()):
        needed = sum(c.needed for c in entries)
        awarded = sum(c.awarded for c in entries)
        parts = ", ".join(f"{c.category} {c.needed:,}" for c in entries)
        lines.append(
            f"{column} at {row_id}: {needed:,} units needed ({parts}), {awarded:,} awarded"
        )
    out = _open(width, height, title, "; ".join(lines) or "no needs", "matrix-chart")

    x = 0.0
    for category in categories:
        out.append(f'<rect x="{_num(x)}" y="4" width="12" height="12" fill="{colour[category]}"/>')
        out.append(_text(x + 16, 14, category, font_size=11))
        x += 24 + 7 * len(category)
    out.append(
        _text(
            0,
            34,
            "Bar length: units needed, to one scale. Figures: units needed, share met.",
            font_size=11,
            fill=MUTED,
        )
    )
    for j, column in enumerate(columns):
        cx = label_w + j * col_w + col_w / 2
        out.append(
            _text(cx, legend_h + 20, column, text_anchor="middle", font_weight="bold", font_size=11)
        )
    for i, (row_id, row_label) in enumerate(rows):
        y = legend_h + header_h + i * row_h
        out.append(
            f'<line x1="0" y1="{_num(y)}" x2="{width}" y2="{_num(y)}" stroke="{GRID}" '
            'stroke-width="1"/>'
        )
        shown = row_label if len(row_label) <= 30 else row_label[:29] + "\u2026"
        out.append(
            f'<text x="0" y="{_num(y + row_h / 2 + 4)}" font-size="11">{escape(shown)}'
            f"<title>{escape(row_label)}</title></text>"
        )
        for j, column in enumerate(columns):
            entries = cells.get((row_id, column), ())
            if not entries:
                continue
            x0 = label_w + j * col_w + 4
            usable = col_w - 8
            offset = 0.0
            needed = sum(c.needed for c in entries)
            awarded = sum(c.awarded for c in entries)
            for entry in sorted(entries, key=lambda c: c.category):
                length = max(usable * entry.needed / scale, 1.5)
                tip = (
                    f"{column}, {row_label}, {entry.category}: {entry.needed:,} needed, "
                    f"{entry.awarded:,} awarded"
                )
                out.append(
                    f'<rect x="{_num(x0 + offset)}" y="{_num(y + 8)}" width="{_num(length)}" '
                    f'height="14" fill="{colour[entry.category]}" stroke="#ffffff" '
                    f'stroke-width="0.5"><title>{escape(tip)}</title>'
                    "</rect>"
                )
                offset += length
            share = f" \u00b7 {round(100 * awarded / needed)}%" if needed else ""
            out.append(
                _text(x0, y + 36, f"{short_number(needed)}{share}", font_size=10, fill=MUTED)
            )
    out.append("</svg>")
    return "\n".join(out)
