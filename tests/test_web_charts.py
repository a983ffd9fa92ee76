"""Server-drawn SVG charts: well-formed, escaped, accessible, faithful to the numbers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.web import charts

pytestmark = pytest.mark.unit

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def test_bar_chart_is_accessible_and_escapes_text() -> None:
    svg = charts.bar_chart(
        [charts.Bar("IOM", 1200.5, "12.0 %"), charts.Bar("<script>x</script>", -300.0)],
        title="Savings & more",
        unit="USD",
    )
    root = parse(svg)
    assert root.get("role") == "img"
    title_id, desc_id = (root.get("aria-labelledby") or "").split()
    assert root.find(f"{SVG}title").get("id") == title_id  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.get("id") == desc_id
    assert "IOM: 1,200.50 USD 12.0 %" in (desc.text or "")
    assert "<script>" not in svg.replace("&lt;script&gt;", "")
    assert "style=" not in svg  # the pages' CSP refuses inline styles


def test_negative_bars_go_left_of_zero_in_another_colour() -> None:
    root = parse(charts.bar_chart([charts.Bar("A", 100), charts.Bar("B", -50)], title="t"))
    bars = [r for r in root.iter(f"{SVG}rect")]
    positive, negative = bars
    assert positive.get("fill") == charts.POSITIVE and negative.get("fill") == charts.NEGATIVE
    zero = float(positive.get("x") or 0)
    assert float(negative.get("x") or 0) < zero
    assert abs(float(negative.get("x") or 0) + float(negative.get("width") or 0) - zero) < 0.2
    # Lengths in proportion to the values.
    ratio = float(positive.get("width") or 0) / float(negative.get("width") or 1)
    assert ratio == pytest.approx(2.0, rel=0.01)


def test_line_chart_merges_labels_of_points_on_one_spot() -> None:
    points = [
        charts.Point(65000, 187548.48, "0"),
        charts.Point(65000, 187548.48, "0.0025"),
        charts.Point(31240, 200673.07, "0.25"),
    ]
    root = parse(charts.line_chart(points, title="f", x_label="late", y_label="cost"))
    assert len(list(root.iter(f"{SVG}circle"))) == 3
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "0, 0.0025" in labels and "0.25" in labels


def test_matrix_chart_cells_and_legend() -> None:
    cells = {
        ("loc-1", "IOM"): [
            charts.MatrixCell("PPE", 4000, 4000),
            charts.MatrixCell("food", 1000, 0, critical_unmet=True),
        ],
        ("loc-2", "UNHCR"): [charts.MatrixCell("PPE", 500, 250)],
        ("loc-2", "IOM"): [charts.MatrixCell("shelter", 20, 0)],
    }
    long_name = "Estación de Recepción Migratoria de Lajas Blancas, Metetí"
    svg = charts.matrix_chart(
        [("loc-1", long_name), ("loc-2", "Bajo Chiquito")],
        ["IOM", "UNHCR"],
        cells,
        title="3W",
    )
    root = parse(svg)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    # One figure per category: PPE and food are never added into one number of "units".
    assert "4k \u00b7 100%" in texts and "500 \u00b7 50%" in texts
    assert not any("5k" in t for t in texts)
    # A critical need at 0% is drawn apart from a need met in full, and from a plain 0%.
    assert "1k \u00b7 0% !" in texts and "20 \u00b7 0%" in texts
    groups = list(root.iter(f"{SVG}g"))
    alerts = [g for g in groups if "critical-unmet" in g.get("class", "")]
    assert len(alerts) == 1 and "food" in "".join(alerts[0].itertext())
    # The location's name is shown whole, over as many lines as it needs.
    label = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "row-label")
    spans = [s.text for s in label.iter(f"{SVG}tspan")]
    assert " ".join(spans) == long_name and len(spans) > 1
    assert {"PPE", "food", "shelter"} <= set(texts)
    tips = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any("IOM, " + long_name + ", food: 1,000 needed, 0 awarded" in tip for tip in tips)


def test_wrap_label_keeps_every_word() -> None:
    assert charts.wrap_label("Bajo Chiquito") == ["Bajo Chiquito"]
    lines = charts.wrap_label("a" * 30 + " b c", 26)
    assert lines == ["a" * 30, "b c"]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0, 11112, [0, 5000, 10000, 15000]), (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0])],
)
def test_nice_ticks(low: float, high: float, expected: list[float]) -> None:
    assert charts.nice_ticks(low, high, 5) == expected


def test_short_numbers() -> None:
    assert [charts.short_number(v) for v in (950, 12345, 2_500_000, -4000, 0.5)] == [
        "950",
        "12.3k",
        "2.5M",
        "-4k",
        "0.5",
    ]
