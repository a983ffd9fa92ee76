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
    label_width: int = 96,
    colour_of: Callable[[float], str] | None = None,
) -> str:
    """Horizontal bars from a zero line; negative values to the left, in another colour.

    ``colour_of``: a bar's colour from its value, where above zero is the bad side
    (default: negative values in ``NEGATIVE``, others in ``POSITIVE``). The value is
    always written beside the bar, sign included, so colour tells nothing alone.
    """
    show = fmt or (lambda v: f"{v:,.2f}")
    colour_for = colour_of or (lambda v: NEGATIVE if v < 0 else POSITIVE)
    label_w, value_w, row_h, top, bottom = label_width, 150, 30, 12, 30
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
        colour = colour_for(bar.value)
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
    # A critical need of this cell is left (partly) unmet: drawn so it cannot be missed.
    critical_unmet: bool = False


ALERT = "#b3261e"
UNMET_FILL = "#eef1f4"
LABEL_CHARS = 26  # a row label's line, at 11 px in the 190 px label column


def wrap_label(label: str, width: int = LABEL_CHARS) -> list[str]:
    """A label broken at spaces into lines of at most ``width`` characters (a longer word
    stays whole on its own line): a location's name is shown in full, never cut."""
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def matrix_chart(
    rows: Sequence[tuple[str, str]],
    columns: Sequence[str],
    cells: Mapping[tuple[str, str], Sequence[MatrixCell]],
    *,
    title: str,
    width: int = 820,
) -> str:
    """Who-what-where: a grid of ``rows`` (id, label) x ``columns``; in each cell one bar
    per item category, its whole length that category's need and its coloured part the
    share met. Categories are never added together (tests and tents are not one unit), and
    a critical need left unmet is drawn in red with a mark, so 0% does not look like 100%."""
    categories = sorted({c.category for entries in cells.values() for c in entries})
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}
    label_w, header_h, legend_h, right, bar_h, line_h = 190, 34, 58, 12, 24, 13
    col_w = (width - label_w - right) / max(len(columns), 1)

    layout = []  # (row_id, label lines, bars per cell, row height)
    for row_id, row_label in rows:
        lines = wrap_label(row_label)
        most = max((len(cells.get((row_id, c), ())) for c in columns), default=0)
        layout.append((row_id, row_label, lines, max(most * bar_h, len(lines) * line_h) + 12))
    height = legend_h + header_h + sum(h for *_, h in layout) + 8

    described = []
    for (row_id, column), entries in sorted(cells.items()):
        parts = ", ".join(
            f"{c.category} {c.needed:,} needed, {c.awarded:,} awarded"
            + (" (a critical need unmet)" if c.critical_unmet else "")
            for c in entries
        )
        described.append(f"{column} at {row_id}: {parts}")
    out = _open(width, height, title, "; ".join(described) or "no needs", "matrix-chart")

    x = 0.0
    for category in categories:
        out.append(f'<rect x="{_num(x)}" y="4" width="12" height="12" fill="{colour[category]}"/>')
        out.append(_text(x + 16, 14, category, font_size=11))
        x += 24 + 7 * len(category)
    out.append(
        _text(
            0,
            34,
            "One bar per category: its length is the need, its coloured part the share met.",
            font_size=11,
            fill=MUTED,
        )
    )
    out.append(_text(0, 50, "! in red: a critical need left unmet.", font_size=11, fill=ALERT))
    for j, column in enumerate(columns):
        cx = label_w + j * col_w + col_w / 2
        out.append(
            _text(cx, legend_h + 20, column, text_anchor="middle", font_weight="bold", font_size=11)
        )
    y = float(legend_h + header_h)
    for row_id, row_label, lines, row_h in layout:
        out.append(
            f'<line x1="0" y1="{_num(y)}" x2="{width}" y2="{_num(y)}" stroke="{GRID}" '
            'stroke-width="1"/>'
        )
        spans = "".join(
            f'<tspan x="0" dy="{0 if k == 0 else line_h}">{escape(line)}</tspan>'
            for k, line in enumerate(lines)
        )
        out.append(
            f'<text x="0" y="{_num(y + 16)}" font-size="11" class="row-label">{spans}'
            f"<title>{escape(row_label)}</title></text>"
        )
        for j, column in enumerate(columns):
            x0 = label_w + j * col_w + 4
            usable = col_w - 8
            for k, entry in enumerate(sorted(cells.get((row_id, column), ()), key=_by_category)):
                top = y + 6 + k * bar_h
                share = entry.awarded / entry.needed if entry.needed else 1.0
                met = usable * min(max(share, 0.0), 1.0)
                tip = (
                    f"{column}, {row_label}, {entry.category}: {entry.needed:,} needed, "
                    f"{entry.awarded:,} awarded"
                    + ("; a critical need is left unmet" if entry.critical_unmet else "")
                )
                stroke = ALERT if entry.critical_unmet else colour[entry.category]
                out.append(
                    f'<g class="cell{" critical-unmet" if entry.critical_unmet else ""}">'
                    f"<title>{escape(tip)}</title>"
                    f'<rect x="{_num(x0)}" y="{_num(top)}" width="{_num(usable)}" height="8" '
                    f'fill="{UNMET_FILL}" stroke="{stroke}" stroke-width="'
                    f'{1.5 if entry.critical_unmet else 0.75}"/>'
                )
                if met > 0:
                    out.append(
                        f'<rect x="{_num(x0)}" y="{_num(top)}" width="{_num(met)}" height="8" '
                        f'fill="{colour[entry.category]}"/>'
                    )
                figure = f"{short_number(entry.needed)} \u00b7 {round(100 * share)}%"
                if entry.critical_unmet:
                    out.append(
                        _text(
                            x0,
                            top + 19,
                            f"{figure} !",
                            font_size=10,
                            fill=ALERT,
                            font_weight="bold",
                        )
                    )
                else:
                    out.append(_text(x0, top + 19, figure, font_size=10, fill=MUTED))
                out.append("</g>")
        y += row_h
    out.append("</svg>")
    return "\n".join(out)


def _by_category(cell: MatrixCell) -> str:
    return cell.category
