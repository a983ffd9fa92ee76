"""A small, real problem document: the example shown in the API docs.

Two agencies each need N95 respirators at Lajas Blancas. Neither alone reaches the
supplier's 10,000-unit tier; pooled they do, and they share one shipment's fixed cost.
A UNICEF need for water tanks at Bajo Chiquito has no route and stays unmet, with its reason.
"""

from typing import Any

EXAMPLE_PROBLEM: dict[str, Any] = {
    "as_of": "2026-12-01",
    "currency": "USD",
    "agencies": [
        {"id": "IOM", "name": "International Organization for Migration"},
        {"id": "UNICEF", "name": "United Nations Children's Fund"},
    ],
    "items": [
        {"id": "ppe-mask-n95", "name": "Respirator N95", "unit": "each", "category": "PPE"},
        {
            "id": "wash-tank-1000l",
            "name": "Water tank 1,000 L",
            "unit": "each",
            "category": "Water",
        },
    ],
    "locations": [
        {"id": "pa-darien-lajas-blancas", "name": "Lajas Blancas reception station"},
        {"id": "pa-darien-bajo-chiquito", "name": "Bajo Chiquito community"},
    ],
    "suppliers": [
        {"id": "sup-001", "name": "Istmo Medical Supplies S.A."},
        {"id": "sup-002", "name": "Aguas del Pacifico S.A."},
    ],
    "needs": [
        {
            "id": "n-1",
            "agency": "IOM",
            "item": "ppe-mask-n95",
            "location": "pa-darien-lajas-blancas",
            "quantity": 6000,
            "need_by": "2026-12-20",
            "priority": "critical",
        },
        {
            "id": "n-2",
            "agency": "UNICEF",
            "item": "ppe-mask-n95",
            "location": "pa-darien-lajas-blancas",
            "quantity": 5000,
            "need_by": "2026-12-24",
            "priority": "high",
        },
        {
            "id": "n-3",
            "agency": "UNICEF",
            "item": "wash-tank-1000l",
            "location": "pa-darien-bajo-chiquito",
            "quantity": 20,
            "need_by": "2026-12-15",
            "priority": "normal",
        },
    ],
    "offers": [
        {
            "id": "o-1",
            "supplier": "sup-001",
            "item": "ppe-mask-n95",
            "price_tiers": [
                {"min_quantity": 0, "unit_price": 1.20},
                {"min_quantity": 10000, "unit_price": 1.00},
            ],
            "capacity": 50000,
            "min_order_quantity": 1000,
            "lead_time_days": 10,
            "eligible_agencies": None,
        },
        {
            "id": "o-2",
            "supplier": "sup-002",
            "item": "wash-tank-1000l",
            "price_tiers": [{"min_quantity": 0, "unit_price": 180.0}],
            "capacity": 200,
            "min_order_quantity": 0,
            "lead_time_days": 7,
            "eligible_agencies": None,
        },
    ],
    "routes": [
        {
            "supplier": "sup-001",
            "location": "pa-darien-lajas-blancas",
            "fixed_cost": 500.0,
            "unit_cost": 0.01,
            "transit_days": 3,
        },
    ],
    "settings": {"time_limit_seconds": 10, "relative_gap": 0.0001, "allocation": "usage"},
}
