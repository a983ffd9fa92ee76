"""Reproducible example problems (contract v1) for demos, tests and the benchmark.

The setting is the UN inter-agency group in Panama during COVID-19: eight
agencies buying PPE, tests, hygiene, food, water and shelter items for the
reception stations along the migrant route from the Darién to Chiriquí.

`generate_problem(size, seed)` returns a valid problem document. The catalogue
and the places are the same for every seed (so "ppe-mask-n95-v3" always means the
same product); the seed draws the suppliers' reach, the needs and the offers.
Only the standard library is used, and nothing iterates over a set, so a given
(size, seed, as_of) gives the same document on every machine and interpreter run.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_AS_OF",
    "SIZES",
    "SizeSpec",
    "add_sourcing",
    "generate_problem",
    "summarize",
]

DEFAULT_AS_OF = dt.date(2026, 12, 1)


@dataclass(frozen=True)
class SizeSpec:
    """How big an example is; `needs` is exact, the other counts too."""

    agencies: int
    items: int
    locations: int
    suppliers: int
    needs: int
    purpose: str
    # A demo must show what pooling is about even when the dice say otherwise: a need
    # no route can serve, a tier only pooled demand reaches, and one item wanted by
    # three or more agencies at one place. When set, these are made to exist.
    showcase: bool = True


SIZES: dict[str, SizeSpec] = {
    "tiny": SizeSpec(3, 4, 3, 3, 8, "a handful of needs for unit tests", showcase=False),
    "small": SizeSpec(8, 12, 6, 6, 40, "a demo a person can read end to end"),
    "medium": SizeSpec(8, 60, 12, 25, 800, "a realistic round for one country office"),
    "large": SizeSpec(8, 400, 20, 120, 8000, "the benchmark's largest instance"),
}

# --------------------------------------------------------------------------- agencies

_AGENCIES: tuple[tuple[str, str], ...] = (
    ("IOM", "International Organization for Migration"),
    ("WHO-PAHO", "World Health Organization / Pan American Health Organization"),
    ("UNHCR", "Office of the United Nations High Commissioner for Refugees"),
    ("OCHA", "United Nations Office for the Coordination of Humanitarian Affairs"),
    ("UNDP", "United Nations Development Programme"),
    ("UNICEF", "United Nations Children's Fund"),
    ("UNAIDS", "Joint United Nations Programme on HIV/AIDS"),
    ("UNFPA", "United Nations Population Fund"),
)
# Which agencies a smaller example keeps: those that buy the most, across mandates.
_AGENCY_PICK = ("IOM", "WHO-PAHO", "UNICEF", "UNHCR", "UNFPA", "UNAIDS", "UNDP", "OCHA")

# Where each agency works, by kind of place (0 = not there).
_PRESENCE: dict[str, dict[str, int]] = {
    "IOM": {"reception": 5, "community": 3, "border": 3, "warehouse": 2, "town": 1},
    "UNHCR": {"reception": 4, "community": 3, "border": 4, "warehouse": 2, "town": 1},
    "UNICEF": {"reception": 4, "community": 4, "border": 2, "warehouse": 1, "town": 2},
    "WHO-PAHO": {"reception": 2, "community": 2, "border": 2, "warehouse": 4, "town": 3},
    "UNFPA": {"reception": 3, "community": 2, "border": 1, "warehouse": 2, "town": 2},
    "UNAIDS": {"reception": 1, "community": 0, "border": 1, "warehouse": 3, "town": 3},
    "OCHA": {"reception": 2, "community": 2, "border": 1, "warehouse": 3, "town": 0},
    "UNDP": {"reception": 1, "community": 1, "border": 1, "warehouse": 3, "town": 4},
}
# How much an agency orders at once, relative to an item's typical need.
_AGENCY_SCALE = {
    "IOM": 1.2,
    "UNHCR": 1.1,
    "UNICEF": 1.0,
    "WHO-PAHO": 1.0,
    "UNFPA": 0.6,
    "UNAIDS": 0.8,
    "OCHA": 0.4,
    "UNDP": 0.8,
}
_KIND_SCALE = {"warehouse": 1.6, "reception": 1.0, "border": 0.8, "town": 0.7, "community": 0.5}

# --------------------------------------------------------------------------- catalogue

# The catalogue is data, kept as a table a procurement officer can read and amend.
# A family line: id | category | unit | USD per unit | typical single need | name.
# Under it: which agencies' mandates call for it (and how strongly), the variants'
# descriptors with their price factors, and the packs (units per pack = unit label).
_CATALOGUE_TABLE = """
ppe-mask-n95 | PPE | each | 1.10 | 2000 | Respirator N95
  buyers: WHO-PAHO 4, IOM 2, UNHCR 2, UNDP 2, UNICEF 1, UNFPA 1, OCHA 1, UNAIDS 1
  specs: size S = 1; size L = 1; duckbill = 1.1; cup-shaped = 0.95
  specs: surgical, fluid-resistant = 1.4; valved = 1.2
  packs: 20 = box of 20; 240 = carton of 240
ppe-mask-surgical | PPE | each | 0.09 | 10000 | Surgical mask, type IIR
  buyers: WHO-PAHO 3, IOM 3, UNHCR 2, UNICEF 2, UNFPA 1, UNDP 1, OCHA 1, UNAIDS 1
  specs: tie-on = 1.1; child size = 1.1; with visor = 2.5; anti-fog = 1.2; ASTM level 3 = 1.4
  packs: 50 = box of 50; 2000 = carton of 2,000
ppe-gloves-nitrile | PPE | box of 100 | 7.50 | 200 | Examination gloves, nitrile
  buyers: WHO-PAHO 4, UNFPA 2, IOM 1, UNDP 1, UNICEF 1
  specs: size S = 1; size M = 1; size L = 1; size XL = 1.05; extended cuff = 1.3
  specs: vinyl, latex-free = 0.7
  packs: 10 = carton of 10 boxes
ppe-gown-isolation | PPE | each | 2.60 | 1000 | Isolation gown, disposable
  buyers: WHO-PAHO 4, UNDP 2, UNFPA 1, IOM 1
  specs: size M = 1; size L = 1; size XL = 1.05; AAMI level 2 = 1.3; AAMI level 3 = 1.8
  specs: reusable = 4.5
  packs: 10 = pack of 10; 100 = carton of 100
ppe-face-shield | PPE | each | 1.80 | 500 | Face shield, full face
  buyers: WHO-PAHO 3, UNDP 2, IOM 1, UNHCR 1
  specs: reusable, anti-fog = 2.2; disposable = 0.6; with headband = 1.1
  packs: 25 = box of 25; 200 = carton of 200
hyg-kit-family | hygiene | kit | 27.00 | 300 | Family hygiene kit (5 persons, 1 month)
  buyers: UNICEF 4, UNHCR 3, IOM 3, UNFPA 1, OCHA 1
  specs: backpack for persons in transit = 0.6; with COVID-19 supplement = 1.2
  specs: 3 persons = 0.7; with laundry soap = 1.05
  packs: 40 = pallet of 40 kits
hyg-soap-bar | hygiene | bar | 0.40 | 5000 | Soap bar, 100 g
  buyers: UNICEF 3, IOM 3, UNHCR 2, OCHA 1
  specs: laundry soap, 250 g = 0.9; antibacterial = 1.2; liquid, 250 ml = 2; liquid, 1 L = 5.5
  packs: 72 = carton of 72; 144 = carton of 144
hyg-sanitiser | hygiene | bottle | 2.30 | 800 | Hand sanitiser, 70% alcohol, 500 ml
  buyers: IOM 2, WHO-PAHO 2, UNICEF 2, UNHCR 2, UNDP 2, OCHA 2, UNAIDS 1, UNFPA 1
  specs: 100 ml = 0.35; 1 L = 1.8; 5 L refill = 7.5; gel, 250 ml = 0.7
  specs: wall dispenser with 1 L = 6
  packs: 12 = case of 12; 24 = case of 24
hyg-kit-menstrual | hygiene | kit | 8.50 | 300 | Menstrual hygiene kit (3 months)
  buyers: UNFPA 4, UNICEF 2, UNHCR 2, IOM 2
  specs: reusable pads = 1.4; disposable pads = 0.9; adolescent girls = 0.9
  specs: with underwear and bucket = 1.6
  packs: 50 = carton of 50 kits
hyg-chlorine | hygiene | tub | 6.80 | 100 | Calcium hypochlorite 70%, 1 kg
  buyers: UNICEF 2, IOM 2, WHO-PAHO 2, UNHCR 1
  specs: granules, 5 kg = 4.6; tablets, 200 g = 0.3
  packs: 12 = case of 12
test-antigen-rapid | testing | test | 2.40 | 2000 | SARS-CoV-2 rapid antigen test
  buyers: WHO-PAHO 4, IOM 3, UNHCR 1, UNDP 1
  specs: nasal swab = 1; saliva = 1.3; WHO EUL-listed, professional use = 1.1; self-test = 1.2
  packs: 25 = kit of 25 tests; 500 = carton of 500 tests
test-pcr-reagent | testing | kit | 520.00 | 10 | RT-PCR reagent kit, 96 reactions
  buyers: WHO-PAHO 4, UNDP 1
  specs: multiplex SARS-CoV-2/influenza = 1.5; extraction-free = 1.3; 48 reactions = 0.55
  packs: 4 = pack of 4 kits
test-swab-vtm | testing | each | 0.90 | 2000 | Nasopharyngeal swab with viral transport medium
  buyers: WHO-PAHO 4, UNDP 1, IOM 1
  specs: oropharyngeal = 0.9; flocked, 3 ml VTM = 1.2; inactivating medium = 1.5
  packs: 50 = box of 50; 500 = carton of 500
med-pulse-oximeter | medical | each | 16.00 | 50 | Pulse oximeter, fingertip
  buyers: WHO-PAHO 3, UNDP 3, IOM 1, UNICEF 1
  specs: paediatric = 1.2; handheld with probes = 9; bedside monitor = 35
  packs: 10 = pack of 10
med-oxygen-concentrator | medical | each | 980.00 | 5 | Oxygen concentrator, 10 L/min
  buyers: WHO-PAHO 3, UNDP 3
  specs: 5 L/min = 0.6; dual flow, 2 x 5 L/min = 1.2; with spare parts kit = 1.15
  specs: portable, 3 L/min = 0.9
med-thermometer-ir | medical | each | 21.00 | 40 | Infrared thermometer, non-contact
  buyers: IOM 3, WHO-PAHO 2, UNICEF 2, UNHCR 2
  specs: forehead, medical grade = 1.3; digital axillary = 0.2; wall-mounted = 3
  packs: 10 = pack of 10
med-arv-tld | medical | bottle | 3.90 | 600 | ARV refill TLD (tenofovir/lamivudine/dolutegravir), 30 tablets
  buyers: UNAIDS 5, IOM 1, WHO-PAHO 1
  specs: 90 tablets = 2.85; TLE 400, 30 tablets = 1.1
  specs: paediatric DTG 10 mg, 90 dispersible tablets = 1.3
  packs: 40 = carton of 40 bottles
med-rh-kit | medical | kit | 420.00 | 6 | Reproductive health kit (IARH)
  buyers: UNFPA 5, WHO-PAHO 1
  specs: kit 2B, clean delivery, birth attendant = 1.2; kit 3, post-rape treatment = 1.5
  specs: kit 5, STI treatment = 1.3; kit 4, contraception = 1.1; kit 1A, male condoms = 0.5
  specs: kit 9, repair of tears = 2
med-ors | medical | sachet | 0.08 | 5000 | Oral rehydration salts, sachet 20.5 g
  buyers: UNICEF 4, IOM 2, WHO-PAHO 1
  specs: with zinc co-pack = 2.5; low osmolarity, flavoured = 1.2
  packs: 100 = box of 100; 1000 = carton of 1,000
food-parcel-family | food | parcel | 48.00 | 400 | Family food parcel, 15 days
  buyers: IOM 3, UNHCR 3, UNICEF 1, OCHA 1
  specs: 30 days = 1.9; persons in transit, 3 days = 0.25; with fortified rice = 1.1
  specs: gluten-free = 1.3
  packs: 20 = pallet of 20 parcels
food-heb | food | carton | 21.00 | 150 | High-energy biscuits, carton of 10 kg
  buyers: IOM 3, UNICEF 2, UNHCR 2
  specs: 100 g bars = 1.1; peanut-free = 1.15; ready-to-use supplementary food = 1.8
  packs: 50 = pallet of 50 cartons
food-infant-formula | food | tin | 8.50 | 400 | Infant formula, stage 1, 400 g tin
  buyers: UNICEF 5, IOM 1, UNHCR 1
  specs: stage 2, follow-on = 0.95; ready-to-use liquid, 200 ml = 0.45; lactose-free = 1.3
  specs: hypoallergenic = 2.2
  packs: 12 = case of 12 tins; 24 = case of 24 tins
wat-purification-tabs | water | box | 3.10 | 200 | Water purification tablets (NaDCC 67 mg), box of 100
  buyers: UNICEF 3, IOM 2, UNHCR 2, OCHA 1
  specs: NaDCC 33 mg = 0.8; NaDCC 167 mg = 1.3; flocculant-disinfectant sachets = 3
  packs: 50 = carton of 50 boxes
wat-jerrycan | water | each | 3.60 | 500 | Jerrycan, collapsible, 20 L
  buyers: UNICEF 2, IOM 2, UNHCR 2, OCHA 1
  specs: rigid, 20 L = 1.5; 10 L = 0.7; with tap = 1.4
  packs: 50 = bale of 50
wat-bottled-pallet | water | pallet | 410.00 | 8 | Bottled water, pallet of 1,512 x 500 ml
  buyers: IOM 3, UNHCR 2, UNICEF 2, OCHA 2
  specs: pallet of 504 x 1.5 L = 1.05; pallet of 192 x 5 L = 1.1; pallet of 60 x 20 L = 0.9
shl-tent-family | shelter | each | 360.00 | 40 | Family tent, 16 m2
  buyers: UNHCR 4, IOM 3, OCHA 1
  specs: 23 m2, winterised = 1.6; lightweight, 12 m2 = 0.7; with ground sheet = 1.08
  specs: self-standing, 2 persons = 0.35
shl-tarpaulin | shelter | each | 11.50 | 300 | Reinforced plastic tarpaulin, 4 x 6 m
  buyers: UNHCR 3, IOM 3, OCHA 2
  specs: 4 x 5 m = 0.85; roll, 4 x 60 m = 9.5; fire-retardant = 1.4
  packs: 5 = bundle of 5; 50 = bale of 50
shl-blanket | shelter | each | 6.20 | 800 | Thermal fleece blanket, 150 x 200 cm
  buyers: UNHCR 3, IOM 3, UNICEF 2
  specs: child size = 0.6; woven wool blend = 1.6; emergency foil = 0.15; high thermal = 1.4
  packs: 10 = bale of 10; 50 = bale of 50
shl-sleeping-mat | shelter | each | 4.80 | 600 | Sleeping mat, foam, 180 x 60 cm
  buyers: UNHCR 3, IOM 3
  specs: inflatable = 3; woven plastic = 0.5; child size = 0.6
  packs: 10 = bundle of 10; 40 = bundle of 40
shl-mosquito-net | shelter | each | 4.20 | 400 | Mosquito net, long-lasting insecticidal, family size
  buyers: UNHCR 2, IOM 2, UNICEF 2, WHO-PAHO 1
  specs: single = 0.8; hammock net = 1.3; untreated = 0.6
  packs: 40 = bale of 40
shl-solar-lamp | shelter | each | 13.50 | 200 | Solar lamp with phone charger
  buyers: UNHCR 3, IOM 2, UNFPA 1, UNDP 1
  specs: basic, no charger = 0.55; family lantern, 300 lm = 1.6; with radio = 1.8
  packs: 20 = carton of 20
"""  # noqa: E501 - a table reads best one row a line


@dataclass(frozen=True)
class _Product:
    """A product family: the base item plus the variants larger sizes draw from."""

    id: str
    category: str
    unit: str
    price: float  # USD per unit, before the supplier's margin
    quantity: int  # a typical single need, in units
    name: str
    buyers: dict[str, int]  # agency -> how strongly its mandate calls for the item
    specs: tuple[tuple[str, float], ...]  # (descriptor, price factor)
    packs: tuple[tuple[int, str], ...]  # (units per pack, unit label)


def _rows(table: str) -> list[list[str]]:
    return [[field.strip() for field in line.split("|")] for line in table.strip().splitlines()]


def _parse_catalogue(table: str) -> tuple[_Product, ...]:
    rows: list[dict[str, Any]] = []
    for line in table.strip().splitlines():
        if not line.startswith(" "):
            key, category, unit, price, quantity, name = (f.strip() for f in line.split("|"))
            rows.append(
                {
                    "id": key,
                    "category": category,
                    "unit": unit,
                    "price": float(price),
                    "quantity": int(quantity),
                    "name": name,
                    "buyers": {},
                    "specs": [],
                    "packs": [],
                }
            )
            continue
        field, _, value = line.strip().partition(":")
        row = rows[-1]
        for part in value.split("," if field == "buyers" else ";"):
            if field == "buyers":
                agency, weight = part.split()
                row["buyers"][agency] = int(weight)
            elif field == "specs":
                descriptor, _, factor = part.rpartition("=")
                row["specs"].append((descriptor.strip(), float(factor)))
            elif field == "packs":
                size, _, label = part.partition("=")
                row["packs"].append((int(size), label.strip()))
            else:
                raise ValueError(f"unknown catalogue field {field!r}")
    return tuple(
        _Product(**{**row, "specs": tuple(row["specs"]), "packs": tuple(row["packs"])})
        for row in rows
    )


_CATALOGUE = _parse_catalogue(_CATALOGUE_TABLE)
# The families a smaller example keeps, chosen so each agency's mandate shows
# (UNAIDS: ARVs, UNFPA: kits, UNICEF: formula, UNHCR: tents, WHO-PAHO: tests...).
_FAMILY_PICK = (
    "ppe-mask-n95", "hyg-kit-family", "food-infant-formula", "shl-tent-family",
    "test-antigen-rapid", "med-arv-tld", "med-rh-kit", "hyg-kit-menstrual",
    "food-parcel-family", "wat-purification-tabs", "med-pulse-oximeter", "shl-blanket",
)  # fmt: skip
# Labelling is the last variant dimension, so Spanish-labelled variants appear only
# once the physical variants of a family are used up.
_LABELLING = (("", 1.0), ("Spanish labelling", 1.03))
_PACK_DISCOUNT = 0.97

_CATEGORIES = ("PPE", "hygiene", "testing", "medical", "food", "water", "shelter")

# --------------------------------------------------------------------------- places


@dataclass(frozen=True)
class _Place:
    id: str
    kind: str  # reception | community | border | warehouse | town
    region: str  # darien | central | west
    remoteness: int  # 0 on a highway, 1 a long road, 2 canoe, boat or air only
    activity: int  # how many migrants pass, as a demand weight
    name: str


# Places along the migrant route, busiest first: a size takes the first n.
# id | kind | region | remoteness | activity | name
_PLACES_TABLE = """
pa-darien-lajas-blancas | reception | darien | 1 | 5 | Lajas Blancas migrant reception station (Darién)
pa-panama-city-warehouse | warehouse | central | 0 | 4 | Panama City humanitarian warehouse
pa-darien-bajo-chiquito | community | darien | 2 | 3 | Bajo Chiquito community reception point (Darién)
pa-darien-san-vicente | reception | darien | 1 | 4 | San Vicente migrant reception station (Darién)
pa-chiriqui-los-planes-de-gualaca | reception | west | 1 | 4 | Los Planes de Gualaca migrant reception station (Chiriquí)
pa-chiriqui-paso-canoas | border | west | 1 | 3 | Paso Canoas border crossing (Chiriquí)
pa-darien-canaan-membrillo | community | darien | 2 | 2 | Canaán Membrillo community reception point (Darién)
pa-chiriqui-david | warehouse | west | 0 | 2 | David regional warehouse (Chiriquí)
pa-colon-free-zone | warehouse | central | 0 | 2 | Colón Free Zone bonded warehouse
pa-veraguas-santiago | town | central | 0 | 2 | Santiago de Veraguas distribution point
pa-panama-pacifico-hub | warehouse | central | 0 | 3 | Regional humanitarian logistics hub, Panamá Pacífico
pa-darien-meteti | town | darien | 1 | 2 | Metetí health centre (Darién)
pa-darien-yaviza | town | darien | 1 | 1 | Yaviza health post (Darién)
pa-darien-la-palma | town | darien | 2 | 1 | La Palma hospital (Darién)
pa-guna-yala-puerto-obaldia | border | darien | 2 | 1 | Puerto Obaldía border post (Guna Yala)
pa-bocas-del-toro-changuinola | town | west | 1 | 1 | Changuinola distribution point (Bocas del Toro)
pa-cocle-penonome | town | central | 0 | 1 | Penonomé distribution point (Coclé)
pa-herrera-chitre | town | central | 0 | 1 | Chitré distribution point (Herrera)
pa-panama-oeste-la-chorrera | town | central | 0 | 1 | La Chorrera distribution point (Panamá Oeste)
pa-panama-tocumen-cargo | warehouse | central | 0 | 2 | Tocumen airport cargo terminal
"""  # noqa: E501 - a table reads best one row a line
_PLACES = tuple(
    _Place(key, kind, region, int(remoteness), int(activity), name)
    for key, kind, region, remoteness, activity, name in _rows(_PLACES_TABLE)
)

# --------------------------------------------------------------------------- suppliers


@dataclass(frozen=True)
class _Supplier:
    id: str
    name: str
    origin: str  # PA | CR | CO | global
    categories: tuple[str, ...]
    remote_reach: float = 1.0  # multiplies the chance of reaching remote places


# The first six are the small demo's cast: two local firms (one at home in the Darién),
# one from each neighbour, two global humanitarian suppliers.
# id | origin | remote reach | categories | name
_NAMED_SUPPLIERS_TABLE = """
sup-001 | PA | 1.5 | PPE medical testing hygiene | Distribuidora Médica Istmeña S.A.
sup-002 | global | 1.0 | PPE hygiene testing medical food water shelter | Global Relief Supplies B.V.
sup-003 | PA | 2.0 | food water shelter hygiene | Suministros Humanitarios del Darién S.A.
sup-004 | CR | 1.0 | PPE medical hygiene testing | Tico Salud y Equipos S.A. (Costa Rica)
sup-005 | CO | 1.0 | food water shelter PPE medical | Andina Logística Humanitaria S.A.S. (Colombia)
sup-006 | global | 1.0 | testing medical PPE | Pan-American Health Procurement Ltd.
"""  # noqa: E501 - a table reads best one row a line
_NAMED_SUPPLIERS = tuple(
    _Supplier(key, name, origin, tuple(categories.split()), float(reach))
    for key, origin, reach, categories, name in _rows(_NAMED_SUPPLIERS_TABLE)
)
# Generated names: one part from each list.
_NAME_PARTS = {
    "PA": (
        "Distribuidora|Comercial|Suministros|Importadora|Grupo",
        "Istmo|Chagres|Azuero|Pacífico|Bocas|Veraguas|Coclé|Canal|Chiriquí|Balboa|Darién|Herrera",
        "S.A.|Internacional S.A.|y Cía. S.A.",
    ),
    "CR": (
        "Tico|Central|Cartago|Heredia|Limón|Alajuela",
        "Medical|Suministros|Salud|Logística|Equipos",
        "S.A. (Costa Rica)",
    ),
    "CO": (
        "Andina|Caribe|Antioquia|Urabá|Cauca|Bolívar",
        "Salud|Suministros|Logística|Insumos|Distribuciones",
        "S.A.S. (Colombia)",
    ),
    "global": (
        "Global|International|Humanitarian|Relief|Emergency|Field",
        "Relief Supplies|Health Logistics|Shelter Solutions|Medical Trading|Procurement Services",
        "B.V.|GmbH|Ltd.|A/S|S.A.R.L.|Inc.",
    ),
}
_ORIGIN_WEIGHTS = {"PA": 40, "CR": 15, "CO": 15, "global": 30}
# Local suppliers are dearer and quick, global ones cheap and slow.
_ORIGIN_PRICE = {"PA": (1.05, 1.25), "CR": (0.95, 1.12), "CO": (0.92, 1.10), "global": (0.80, 0.95)}
_ORIGIN_LEAD = {"PA": (2, 8), "CR": (4, 12), "CO": (5, 14), "global": (12, 30)}
# Chance that a supplier serves a place, by origin and the place's remoteness.
_ROUTE_CHANCE = {
    "PA": (0.90, 0.65, 0.40),
    "CR": (0.70, 0.40, 0.12),
    "CO": (0.70, 0.40, 0.25),
    "global": (0.75, 0.35, 0.10),
}
# Neighbours reach nearby regions more easily: Costa Rica the west, Colombia the Darién by sea.
_NEAR = {("CR", "west"): 1.5, ("CO", "darien"): 1.4}
_EXTRA_TRANSIT = {"PA": 0, "CR": 2, "CO": 3, "global": 5}

# How many offers an item gets (1-4), and how many agencies share one demand point.
_OFFERS_PER_ITEM = ((1, 5), (2, 20), (3, 35), (4, 40))
_AGENCIES_PER_POINT = ((1, 30), (2, 30), (3, 25), (4, 15))


# --------------------------------------------------------------------------- public API


def generate_problem(
    size: str = "small", seed: int = 0, as_of: dt.date | None = None, *, sourcing: bool = False
) -> dict[str, Any]:
    """A valid problem document, the same for the same (size, seed, as_of, sourcing).

    Contract v1 unless `sourcing`: then the same instance with contract v2's sourcing
    terms on top (see `add_sourcing`); the v1 part is not redrawn.
    """
    try:
        spec = SIZES[size]
    except KeyError:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}") from None
    # as_of is left out of the seed so that moving the date moves the instance, not redraws it.
    rng = random.Random(f"poolbuy-examples:{size}:{seed}")
    document = _Builder(spec, rng, as_of or DEFAULT_AS_OF).build()
    if sourcing:
        add_sourcing(document, random.Random(f"poolbuy-sourcing:{size}:{seed}"))
    return document


# Goods sold by the carton, and the carton's size.
_CARTONS = {"PPE": 240, "testing": 40, "water": 120}
# Handling fees seen in UN pooled procurement: UNICEF Supply Division's 4.5% on
# the goods, PAHO's Strategic Fund 3%; suppliers based abroad more often charge one.
_FEES = (0.045, 0.03)


def add_sourcing(document: dict[str, Any], rng: random.Random) -> None:
    """Contract v2's sourcing terms on a generated round, in place.

    - cartons: PPE, tests and water goods are sold in whole cartons (`pack_size`);
    - handling fees on about a third of the offers (4.5% or 3% of the goods);
    - supply risk: each PPE item may be bought from at most 2 suppliers, or pay a
      penalty of 2% of its demand's value per extra supplier;
    - a long-term agreement: the supplier of the item with the most offers keeps at
      least 30% of it, or pays half the item's price per unit short;
    - a budget that binds: the agency with the most needs gets 70% of what its needs
      cost at the cheapest first-tier prices.
    """
    document["version"] = 2
    category = {item["id"]: item["category"] for item in document["items"]}
    price: dict[str, float] = {}
    offers_of: dict[str, list[dict[str, Any]]] = {}
    for offer in document["offers"]:
        item = offer["item"]
        offers_of.setdefault(item, []).append(offer)
        first = offer["price_tiers"][0]["unit_price"]
        price[item] = min(price.get(item, first), first)
        if category[item] in _CARTONS:
            offer["pack_size"] = _CARTONS[category[item]]
        if rng.random() < 1 / 3:
            offer["fee_rate"] = rng.choice(_FEES)
    demand: dict[str, int] = {}
    for need in document["needs"]:
        demand[need["item"]] = demand.get(need["item"], 0) + need["quantity"]

    rules: list[dict[str, Any]] = []
    for item in sorted(offers_of):
        if category[item] == "PPE" and item in demand:
            penalty = round(max(100.0, 0.02 * price[item] * demand[item]), 2)
            rules.append(
                {"id": f"supply-risk-{item}", "kind": "max_suppliers", "item": item, "limit": 2,
                 "penalty": penalty}
            )  # fmt: skip
    contested = sorted(
        (item for item in offers_of if item in demand and len(offers_of[item]) >= 2),
        key=lambda item: (-len(offers_of[item]), item),
    )
    if contested:
        item = contested[0]
        holder = offers_of[item][0]["supplier"]
        rules.append(
            {"id": f"lta-{item}", "kind": "min_share", "item": item, "supplier": holder,
             "share": 0.3, "penalty": round(price[item] / 2, 2)}
        )  # fmt: skip
    document["rules"] = rules

    needs_of: dict[str, list[dict[str, Any]]] = {}
    for need in document["needs"]:
        needs_of.setdefault(need["agency"], []).append(need)
    if needs_of:
        agency = max(sorted(needs_of), key=lambda a: len(needs_of[a]))
        cost = sum(n["quantity"] * price.get(n["item"], 0.0) for n in needs_of[agency])
        for entry in document["agencies"]:
            if entry["id"] == agency:
                entry["budget"] = float(round(0.7 * cost, -2))


def summarize(problem: dict[str, Any]) -> dict[str, int]:
    """Counts that say how hard an instance is, above all the usable (need, offer) pairs."""
    routed = {(r["supplier"], r["location"]) for r in problem["routes"]}
    offers_by_item: dict[str, list[dict[str, Any]]] = {}
    for offer in problem["offers"]:
        offers_by_item.setdefault(offer["item"], []).append(offer)
    pairs = 0
    unserved = 0
    for need in problem["needs"]:
        usable = sum(
            1
            for offer in offers_by_item.get(need["item"], [])
            if (offer["eligible_agencies"] is None or need["agency"] in offer["eligible_agencies"])
            and (offer["supplier"], need["location"]) in routed
        )
        pairs += usable
        unserved += usable == 0
    return {
        "agencies": len(problem["agencies"]),
        "items": len(problem["items"]),
        "locations": len(problem["locations"]),
        "suppliers": len(problem["suppliers"]),
        "needs": len(problem["needs"]),
        "offers": len(problem["offers"]),
        "tiers": sum(len(o["price_tiers"]) for o in problem["offers"]),
        "routes": len(problem["routes"]),
        "usable_pairs": pairs,
        "needs_without_usable_offer": unserved,
    }


# --------------------------------------------------------------------------- building


@dataclass
class _Item:
    id: str
    name: str
    unit: str
    category: str
    price: float
    quantity: int
    family: _Product
    variant: int = 0  # 0 for the family's base item


@dataclass
class _Need:
    agency: str
    item: _Item
    place: _Place
    quantity: int
    need_by: dt.date
    priority: str


@dataclass
class _Offer:
    supplier: _Supplier
    item: _Item
    eligible: list[str] | None
    lead_time_days: int
    first_price: float
    first_min: int = 0
    tiers: tuple[tuple[int, float], ...] = ()
    capacity: int = 0
    min_order_quantity: int = 0


class _Builder:
    def __init__(self, spec: SizeSpec, rng: random.Random, as_of: dt.date) -> None:
        self.spec = spec
        self.rng = rng
        self.as_of = as_of
        self.agencies = list(_AGENCY_PICK[: spec.agencies])
        self.items = _pick_items(spec.items)
        if spec.locations > len(_PLACES):
            raise ValueError(f"at most {len(_PLACES)} locations are known")
        self.places = list(_PLACES[: spec.locations])
        self.suppliers = self._suppliers()
        self.reach: dict[str, set[str]] = {}  # supplier -> the places its routes go to
        self.routes: dict[tuple[str, str], dict[str, Any]] = {}
        self.needs: list[_Need] = []
        self.needs_by_item: dict[str, list[_Need]] = {}
        self.offers: list[_Offer] = []
        self._buyers_cache: dict[str, dict[str, int]] = {}
        self._place_weights: dict[tuple[str, str | None], list[float]] = {}

    def build(self) -> dict[str, Any]:
        self._add_routes()
        self._add_needs()
        self._add_offers()
        if self.spec.showcase:
            self._ensure_no_route_need()
        self._set_terms()
        if self.spec.showcase:
            self._ensure_pooling_tier()
        return self._document()

    # ---------------------------------------------------------------- suppliers, routes

    def _suppliers(self) -> list[_Supplier]:
        rng = self.rng
        suppliers = list(_NAMED_SUPPLIERS[: self.spec.suppliers])
        names = {s.name for s in suppliers}
        origins = list(_ORIGIN_WEIGHTS)
        while len(suppliers) < self.spec.suppliers:
            origin = rng.choices(origins, [_ORIGIN_WEIGHTS[o] for o in origins])[0]
            name = " ".join(rng.choice(part.split("|")) for part in _NAME_PARTS[origin])
            if name in names:
                continue
            names.add(name)
            picked = rng.sample(_CATEGORIES, rng.randint(2, 4))
            categories = tuple(c for c in _CATEGORIES if c in picked)
            suppliers.append(
                _Supplier(
                    f"sup-{len(suppliers) + 1:03d}",
                    name,
                    origin,
                    categories,
                    remote_reach=rng.uniform(0.7, 1.3),
                )
            )
        return suppliers

    def _add_routes(self) -> None:
        rng = self.rng
        for supplier in self.suppliers:
            reached = set()
            for place in self.places:
                chance = _ROUTE_CHANCE[supplier.origin][place.remoteness]
                chance *= _NEAR.get((supplier.origin, place.region), 1.0)
                if place.remoteness:
                    chance *= supplier.remote_reach
                if rng.random() < min(chance, 0.97):
                    reached.add(place.id)
            if not reached:
                reached.add(min(self.places, key=lambda p: p.remoteness).id)
            self.reach[supplier.id] = reached
        for place in self.places:
            # At least two firms truck to every place, local ones first: with a handful of
            # suppliers the dice alone would leave a station served by nobody or one firm.
            spare = [s for s in self.suppliers if place.id not in self.reach[s.id]]
            serving = len(self.suppliers) - len(spare)
            while serving < 2 and spare:
                supplier = rng.choice([s for s in spare if s.origin == "PA"] or spare)
                spare.remove(supplier)
                serving += 1
                self.reach[supplier.id].add(place.id)
        for supplier in self.suppliers:
            for place in self.places:
                if place.id in self.reach[supplier.id]:
                    self.routes[(supplier.id, place.id)] = self._route(supplier, place)

    def _route(self, supplier: _Supplier, place: _Place) -> dict[str, Any]:
        rng = self.rng
        low, high = ((50, 300), (250, 900), (900, 1800))[place.remoteness]
        fixed = rng.uniform(low, high) + (0 if supplier.origin == "PA" else rng.uniform(50, 200))
        unit = rng.uniform(*((0.0, 0.04), (0.02, 0.08), (0.05, 0.15))[place.remoteness])
        transit = rng.randint(*((1, 2), (2, 3), (3, 5))[place.remoteness])
        if (supplier.origin, place.region) not in _NEAR:
            transit += _EXTRA_TRANSIT[supplier.origin]
        return {
            "supplier": supplier.id,
            "location": place.id,
            "fixed_cost": float(min(2000, max(50, round(fixed, -1)))),
            "unit_cost": round(unit, 2),
            "transit_days": min(10, max(1, transit)),
        }

    # ---------------------------------------------------------------- needs

    def _add_needs(self) -> None:
        """Needs come in demand points: one item at one place, wanted by 1-4 agencies.

        Drawing agencies per point rather than per need is what makes several agencies
        want the same item at the same place, which is the case pooling exists for.
        The first points are anchored, on each agency and then on each item not yet
        wanted, so that no agency is left without needs and no item without demand
        (as far as the size allows).
        """
        rng = self.rng
        item_weights = [sum(self._buyers(it).values()) for it in self.items]
        item_cum = list(itertools.accumulate(item_weights))
        agency_anchors = [
            a for a in self.agencies if any(self._buyers(it).get(a) for it in self.items)
        ]
        item_anchors = [it for it, w in zip(self.items, item_weights, strict=True) if w]
        rng.shuffle(item_anchors)
        wanted_items: set[str] = set()
        ordered: set[tuple[str, str, str]] = set()
        first = True
        while len(self.needs) < self.spec.needs:
            anchor = agency_anchors.pop(0) if agency_anchors else None
            while anchor is None and item_anchors and item_anchors[0].id in wanted_items:
                item_anchors.pop(0)
            anchor_item = item_anchors.pop(0) if anchor is None and item_anchors else None
            # The very first point is the showcase: three agencies, one item, one place.
            sharing = 3 if first else _draw(rng, _AGENCIES_PER_POINT)
            for _ in range(20):
                if anchor_item is not None:
                    item = anchor_item
                elif anchor is not None:
                    mandate = [self._buyers(it).get(anchor, 0) for it in self.items]
                    item = rng.choices(self.items, mandate)[0]
                else:
                    item = rng.choices(self.items, cum_weights=item_cum)[0]
                place = self._draw_place(item, anchor)
                buyers = self._buyers(item)
                candidates = [
                    a for a in self.agencies if buyers.get(a, 0) * _PRESENCE[a][place.kind] > 0
                ]
                if not first or len(candidates) >= sharing:
                    break
            first = False
            others = [a for a in candidates if a != anchor]
            # An agency already ordering this item here mostly stays with that order; a
            # second, later delivery to the same place is the exception.
            weights = [
                buyers[a]
                * _PRESENCE[a][place.kind]
                * (0.2 if (item.id, place.id, a) in ordered else 1.0)
                for a in others
            ]
            chosen = [anchor] if anchor is not None else []
            chosen += _sample(rng, others, weights, sharing - len(chosen))
            for agency in chosen:
                if len(self.needs) < self.spec.needs:
                    self.needs.append(self._need(agency, item, place))
                    ordered.add((item.id, place.id, agency))
                    wanted_items.add(item.id)

    def _buyers(self, item: _Item) -> dict[str, int]:
        family = item.family.id
        if family not in self._buyers_cache:
            self._buyers_cache[family] = {
                a: w for a, w in item.family.buyers.items() if a in self.agencies
            }
        return self._buyers_cache[family]

    def _draw_place(self, item: _Item, anchor: str | None) -> _Place:
        key = (item.id, anchor)
        if key not in self._place_weights:
            buyers = self._buyers(item)
            if anchor is not None:
                buyers = {anchor: buyers.get(anchor, 1)}
            # Each product has its own favourite places (a variant is stocked where its
            # users are), which concentrates its demand and so the chance to pool it.
            weights = [
                p.activity
                * sum(w * _PRESENCE[a][p.kind] for a, w in buyers.items())
                * self.rng.lognormvariate(0, 1.0)
                for p in self.places
            ]
            self._place_weights[key] = list(itertools.accumulate(weights))
        cumulative = self._place_weights[key]
        if not cumulative[-1]:
            return self.rng.choice(self.places)
        return self.rng.choices(self.places, cum_weights=cumulative)[0]

    def _need(self, agency: str, item: _Item, place: _Place) -> _Need:
        rng = self.rng
        scale = _AGENCY_SCALE[agency] * _KIND_SCALE[place.kind] * rng.lognormvariate(0, 0.5)
        roll = rng.random()
        if roll < 0.15:
            priority, days = "critical", rng.randint(5, 20)
        elif roll < 0.50:
            priority, days = "high", rng.randint(7, 35)
        else:
            priority, days = "normal", rng.randint(10, 45)
        return _Need(
            agency,
            item,
            place,
            _nice(item.quantity * scale),
            self.as_of + dt.timedelta(days=days),
            priority,
        )

    # ---------------------------------------------------------------- offers

    def _add_offers(self) -> None:
        """Which suppliers sell each item, and to whom.

        Suppliers are drawn one by one among those selling the item's category, favouring
        those whose routes reach where the item is wanted and not yet served (a firm quotes
        where there is business). Otherwise the remote stations, which few suppliers reach,
        would leave a large share of the needs with no usable offer at all.
        """
        rng = self.rng
        wanted_at: dict[str, dict[str, int]] = {}
        for need in self.needs:
            counts = wanted_at.setdefault(need.item.id, {})
            counts[need.place.id] = counts.get(need.place.id, 0) + 1
        specialists = {c: [s for s in self.suppliers if c in s.categories] for c in _CATEGORIES}
        for item in self.items:
            count = _draw(rng, _OFFERS_PER_ITEM)
            demand_at = list(wanted_at.get(item.id, {}).items())
            total = sum(n for _, n in demand_at) or 1
            share: dict[str, float] = {}
            uncovered = demand_at
            chosen: list[_Supplier] = []
            while True:
                # Past the drawn count, one more seller joins (up to four) to reach places
                # still unserved, mostly: a few needs are left that nobody can deliver to.
                filling = len(chosen) >= count
                if filling and not (uncovered and len(chosen) < 4 and rng.random() < 0.8):
                    break
                taken = {s.id for s in chosen}
                sellers = [s for s in specialists[item.category] if s.id not in taken]
                if filling or not sellers:
                    sellers = [s for s in self.suppliers if s.id not in taken]
                weights = []
                for s in sellers:
                    reached = self.reach[s.id]
                    if s.id not in share:
                        share[s.id] = sum(n for p, n in demand_at if p in reached) / total
                    gain = sum(n for p, n in uncovered if p in reached) / total
                    weight = 0.0 if filling and not gain else 0.01 + share[s.id] ** 3 + 3 * gain**2
                    # A firm seldom quotes outside its trade, unless it alone gets there.
                    weights.append(weight if item.category in s.categories else weight / 20)
                if not any(weights):
                    break
                pick = rng.choices(sellers, weights)[0]
                chosen.append(pick)
                uncovered = [(p, n) for p, n in uncovered if p not in self.reach[pick.id]]
            for supplier in sorted(chosen, key=lambda s: s.id):
                low, high = _ORIGIN_LEAD[supplier.origin]
                price = item.price * rng.uniform(*_ORIGIN_PRICE[supplier.origin])
                self.offers.append(
                    _Offer(
                        supplier=supplier,
                        item=item,
                        eligible=self._eligibility(item, only_offer=len(chosen) == 1),
                        lead_time_days=max(2, min(30, rng.randint(low, high))),
                        first_price=max(0.01, round(price * rng.uniform(0.92, 1.08), 2)),
                    )
                )

    def _eligibility(self, item: _Item, only_offer: bool) -> list[str] | None:
        """Mostly open; some are one agency's long-term agreement, some suspended.

        An item's only offer is never restricted or suspended: that would shut most
        agencies out of the item altogether, which is a broken catalogue, not a case.
        """
        rng = self.rng
        roll = rng.random()
        if roll < 0.78 or (only_offer and roll >= 0.90):
            return None
        buyers = self._buyers(item)
        owner = max(buyers, key=lambda a: (buyers[a], a)) if buyers else self.agencies[0]
        others = [a for a in self.agencies if a != owner]
        if roll < 0.90:  # a long-term agreement others may piggyback on
            members = [owner, *rng.sample(others, min(len(others), rng.randint(2, 4)))]
        elif roll < 0.97:  # restricted to its holder, sometimes one partner
            members = [owner, *rng.sample(others, min(len(others), rng.randint(0, 1)))]
        else:  # suspended: nobody may buy through it this round
            members = []
        return [a for a in self.agencies if a in members]

    def _ensure_no_route_need(self) -> None:
        """Make sure one need cannot be reached by any seller of its item (reason no_route)."""
        sellers: dict[str, list[str]] = {}
        for offer in self.offers:
            sellers.setdefault(offer.item.id, []).append(offer.supplier.id)

        def served(item: _Item, place: _Place) -> bool:
            return any((s, place.id) in self.routes for s in sellers.get(item.id, []))

        if any(n.item.id in sellers and not served(n.item, n.place) for n in self.needs):
            return
        gaps = [
            (item, place)
            for item in self.items
            if item.id in sellers
            for place in self.places
            if not served(item, place)
            and any(self._buyers(item).get(a, 0) * _PRESENCE[a][place.kind] for a in self.agencies)
        ]
        if not gaps:
            # Every seller reaches everywhere: cut the item with fewest sellers off the most
            # remote place, keeping that place served by someone else.
            for item in sorted(self.items, key=lambda it: (len(sellers.get(it.id, [])), it.id)):
                if item.id not in sellers:
                    continue
                for place in sorted(self.places, key=lambda p: (-p.remoteness, p.id)):
                    others = [
                        k for k in self.routes if k[1] == place.id and k[0] not in sellers[item.id]
                    ]
                    lonely = any(self.reach[s] == {place.id} for s in sellers[item.id])
                    if others and not lonely:
                        for s in sellers[item.id]:
                            self.routes.pop((s, place.id), None)
                            self.reach[s].discard(place.id)
                        gaps = [(item, place)]
                        break
                if gaps:
                    break
        if not gaps:
            return
        remote = [g for g in gaps if g[1].remoteness == max(p.remoteness for _, p in gaps)]
        item, place = self.rng.choice(remote)
        buyers = self._buyers(item)
        agency = max(self.agencies, key=lambda a: (buyers.get(a, 0) * _PRESENCE[a][place.kind], a))
        # The last need is replaced, not added, so the size keeps its advertised count.
        self.needs[-1] = self._need(agency, item, place)

    def _reachable_demand(self, offer: _Offer) -> dict[str, int]:
        """Each eligible agency's demand an offer could serve along its supplier's routes."""
        demand: dict[str, int] = {}
        for need in self.needs_by_item.get(offer.item.id, []):
            if offer.eligible is not None and need.agency not in offer.eligible:
                continue
            if (offer.supplier.id, need.place.id) in self.routes:
                demand[need.agency] = demand.get(need.agency, 0) + need.quantity
        return demand

    def _set_terms(self) -> None:
        """Tiers, capacity and minimum order, set against the demand the offer can see.

        Some tiers and minimum orders sit between the largest single agency's demand and
        the pooled demand, so that only buying together unlocks them.
        """
        rng = self.rng
        self.needs_by_item = {}
        for need in self.needs:
            self.needs_by_item.setdefault(need.item.id, []).append(need)
        totals = {
            it.id: sum(n.quantity for n in self.needs_by_item.get(it.id, [])) for it in self.items
        }
        popularity = sorted(len(self.needs_by_item.get(it.id, [])) for it in self.items)
        popular = popularity[(2 * len(popularity)) // 3]
        reachable = [self._reachable_demand(offer) for offer in self.offers]
        # Each item keeps one offer that any agency can use alone, without a minimum: the
        # open offer that reaches the most demand. Buying alone is then dearer, seldom
        # impossible; were it impossible, stand-alone plans would leave needs unmet,
        # spend less money and make pooling look expensive.
        fallback: dict[str, tuple[tuple[bool, int], _Offer]] = {}
        for offer, demand in zip(self.offers, reachable, strict=True):
            rank = (offer.eligible is None, sum(demand.values()))
            if offer.item.id not in fallback or rank > fallback[offer.item.id][0]:
                fallback[offer.item.id] = (rank, offer)
        for offer, demand in zip(self.offers, reachable, strict=True):
            item = offer.item
            typical = item.quantity
            total = totals[item.id]
            pooled = sum(demand.values())
            single = max(demand.values(), default=0)
            busy = len(self.needs_by_item.get(item.id, [])) >= popular and total > 0
            if busy and rng.random() < 0.2:
                capacity = _nice(total * rng.uniform(0.5, 0.9))  # binds: the item is scarce
            elif total > 0:
                capacity = _nice(total * rng.uniform(1.2, 3.0))
            else:
                capacity = _nice(typical * rng.uniform(5, 20))

            offer.first_min = _nice(typical * rng.uniform(0.2, 0.8)) if rng.random() < 0.12 else 0
            thresholds = []
            extra = _draw(rng, ((0, 25), (1, 45), (2, 30)))
            if extra and pooled > single and rng.random() < 0.7:
                thresholds.append(_between(rng, single, pooled))
                extra -= 1
            for factor in ((1.5, 4.0), (5.0, 15.0))[:extra]:
                thresholds.append(_nice(typical * rng.uniform(*factor)))

            roll = rng.random()
            if roll < 0.6:
                moq = 0
            elif roll < 0.8:
                moq = _nice(typical * rng.uniform(0.1, 0.5))
            else:
                moq = _between(rng, single, pooled) if pooled > single else 0
            if fallback[item.id][1] is offer:
                offer.first_min = moq = 0
            offer.min_order_quantity = moq
            offer.capacity = max(capacity, moq, offer.first_min)
            offer.tiers = self._tiers(offer, thresholds)

    def _tiers(self, offer: _Offer, thresholds: Sequence[int]) -> tuple[tuple[int, float], ...]:
        tiers = [(offer.first_min, offer.first_price)]
        for threshold in sorted(set(thresholds)):
            floor, price = tiers[-1]
            if threshold <= max(floor, offer.min_order_quantity) or threshold > offer.capacity:
                continue  # a tier every order is past, or none can reach, says nothing
            cut = round(price * (1 - self.rng.uniform(0.05, 0.15)), 2)
            cut = min(cut, round(price - 0.01, 2))
            if cut < 0.01:
                break
            tiers.append((threshold, cut))
        return tuple(tiers)

    def _ensure_pooling_tier(self) -> None:
        def unlocked_by_pooling(offer: _Offer) -> bool:
            demand = self._reachable_demand(offer)
            single, pooled = max(demand.values(), default=0), sum(demand.values())
            return any(single < m <= min(pooled, offer.capacity) for m, _ in offer.tiers)

        if any(unlocked_by_pooling(o) for o in self.offers):
            return
        best, gap = None, 0
        for offer in self.offers:
            demand = self._reachable_demand(offer)
            spread = sum(demand.values()) - max(demand.values(), default=0)
            if spread > gap:
                best, gap = offer, spread
        if best is None:
            return
        demand = self._reachable_demand(best)
        single, pooled = max(demand.values()), sum(demand.values())
        threshold = _between(self.rng, single, pooled)
        best.capacity = max(best.capacity, pooled)
        if best.first_min >= threshold:
            best.first_min = 0
        if best.min_order_quantity >= threshold:
            best.min_order_quantity = 0
        best.tiers = self._tiers(best, [m for m, _ in best.tiers[1:]] + [threshold])

    # ---------------------------------------------------------------- output

    def _document(self) -> dict[str, Any]:
        names = dict(_AGENCIES)
        return {
            "as_of": self.as_of.isoformat(),
            "currency": "USD",
            "agencies": [{"id": a, "name": names[a]} for a, _ in _AGENCIES if a in self.agencies],
            "items": [
                {"id": it.id, "name": it.name, "unit": it.unit, "category": it.category}
                for it in self.items
            ],
            "locations": [{"id": p.id, "name": p.name} for p in self.places],
            "suppliers": [{"id": s.id, "name": s.name} for s in self.suppliers],
            "needs": [
                {
                    "id": f"n-{k}",
                    "agency": n.agency,
                    "item": n.item.id,
                    "location": n.place.id,
                    "quantity": n.quantity,
                    "need_by": n.need_by.isoformat(),
                    "priority": n.priority,
                }
                for k, n in enumerate(self.needs, start=1)
            ],
            "offers": [
                {
                    "id": f"o-{k}",
                    "supplier": o.supplier.id,
                    "item": o.item.id,
                    "price_tiers": [{"min_quantity": m, "unit_price": p} for m, p in o.tiers],
                    "capacity": o.capacity,
                    "min_order_quantity": o.min_order_quantity,
                    "lead_time_days": o.lead_time_days,
                    "eligible_agencies": o.eligible,
                }
                for k, o in enumerate(self.offers, start=1)
            ],
            "routes": list(self.routes.values()),
            "settings": {"allocation": "usage"},
        }


# --------------------------------------------------------------------------- helpers


def _pick_items(count: int) -> list[_Item]:
    """The first `count` items: picked families first, then variants family by family."""
    by_id = {p.id: p for p in _CATALOGUE}
    families = [by_id[i] for i in _FAMILY_PICK]
    families += [p for p in _CATALOGUE if p.id not in _FAMILY_PICK]
    chosen: list[_Item] = [_base_item(p) for p in families[:count]]
    variants = {p.id: _variants(p) for p in families}
    round_ = 0
    while len(chosen) < count:
        added = False
        for family in families:
            if round_ < len(variants[family.id]) and len(chosen) < count:
                chosen.append(variants[family.id][round_])
                added = True
        if not added:
            raise ValueError(f"the catalogue holds fewer than {count} items")
        round_ += 1
    order = {p.id: k for k, p in enumerate(_CATALOGUE)}
    return sorted(chosen, key=lambda it: (order[it.family.id], it.variant))


def _base_item(product: _Product) -> _Item:
    return _Item(
        product.id,
        product.name,
        product.unit,
        product.category,
        product.price,
        product.quantity,
        product,
    )


def _variants(product: _Product) -> list[_Item]:
    specs = (("", 1.0), *product.specs)
    packs = ((1, product.unit), *product.packs)
    variants: list[_Item] = []
    for label, label_factor in _LABELLING:
        for size, unit in packs:
            for spec, spec_factor in specs:
                if not (label or spec or size > 1):
                    continue  # that is the base item itself
                name = ", ".join(
                    part for part in (product.name, spec, unit if size > 1 else "", label) if part
                )
                factor = label_factor * spec_factor * (size * _PACK_DISCOUNT if size > 1 else 1)
                number = len(variants) + 1
                variants.append(
                    _Item(
                        f"{product.id}-v{number}",
                        name,
                        unit if size > 1 else product.unit,
                        product.category,
                        product.price * factor,
                        max(1, round(product.quantity / size)),
                        product,
                        number,
                    )
                )
    return variants


def _nice(x: float) -> int:
    """Round to two significant figures, as people write order quantities (4,400 not 4,371)."""
    if x < 10:
        return max(1, round(x))
    step = 10 ** (int(math.log10(x)) - 1)
    return int(round(x / step) * step)


def _between(rng: random.Random, single: int, pooled: int) -> int:
    """A threshold above what one agency wants and within what they want together."""
    target = single + max(1, round((pooled - single) * rng.uniform(0.2, 0.8)))
    nice = _nice(target)
    return nice if single < nice <= pooled else min(target, pooled)


def _draw(rng: random.Random, table: Sequence[tuple[int, int]]) -> int:
    return rng.choices([v for v, _ in table], [w for _, w in table])[0]


def _sample[T](
    rng: random.Random, population: Sequence[T], weights: Sequence[float], k: int
) -> list[T]:
    """Up to k distinct members, drawn by weight without replacement."""
    pool = [(p, w) for p, w in zip(population, weights, strict=True) if w > 0]
    chosen: list[T] = []
    while pool and len(chosen) < k:
        pick = rng.choices(range(len(pool)), [w for _, w in pool])[0]
        chosen.append(pool.pop(pick)[0])
    return chosen
