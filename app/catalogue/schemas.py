"""Request and response bodies of the catalogue routes: items, locations, suppliers,
offers (with their price tiers) and routes.

Field-level rules live here; rules that span fields or rows (tier order, validity
dates, references to other rows) live in ``service`` so they are reported together
with these, and hold for every caller, not only the API.

Money comes in as a JSON number or a decimal string ("1.20") and goes out as a JSON
number, like every money figure in contract v1; it is kept as an exact decimal.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from app.api.params import IsoDate
from app.db import MONEY_SCALE
from app.errors import describe_pattern

# Ids of items, locations and suppliers are the codes problem documents use, and
# they appear in URLs: letters, digits, '.', '_', '-' only.
CODE = describe_pattern(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "use letters, digits, '.', '_' or '-' only (at most 64), starting with a letter or digit",
)
AGENCY_CODE = describe_pattern(r"^[A-Z][A-Z0-9-]{1,15}$", "choose an agency of the group")
COUNTRY = describe_pattern(r"^[A-Z]{2}$", "enter two capital letters, e.g. PA")
EMAIL = describe_pattern(
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "enter an e-mail address such as name@example.org"
)
# Quantities are INTEGER columns on PostgreSQL.
INT32_MAX = 2_147_483_647
# A lead or transit time beyond ten years is a typo, and would push delivery dates
# past what a run's date arithmetic can hold.
MAX_DAYS = 3650
MAX_TIERS = 50


def _whole_number(value: Any) -> Any:
    # Pydantic's lax mode would read "5000" or true as 5000 and 1; contract v1 does
    # not guess, and neither do we.
    if isinstance(value, bool | str):
        raise ValueError("enter a whole number")
    return value


def unspsc_problem(code: str) -> str | None:
    """Why ``code`` is not a UNSPSC code, or None when it is one.

    Eight digits: segment, family, class, commodity, two each. A segment starts at
    10; a level below one written as 00 is 00 too (42000000 is a segment code,
    42130000 a family, 42131600 a class, 42131606 a commodity).
    """
    if not re.fullmatch(r"\d{8}", code):
        return "must be 8 digits (segment, family, class, commodity), e.g. 42131606"
    levels = [code[i : i + 2] for i in range(0, 8, 2)]
    if levels[0] < "10":
        return "the segment (first two digits) must be 10 or above"
    for upper, lower in itertools.pairwise(levels):
        if upper == "00" and lower != "00":
            return "a level under a 00 level must be 00 too (e.g. 42130000, not 42001300)"
    return None


def _unspsc(value: Any) -> Any:
    if isinstance(value, str) and (problem := unspsc_problem(value)) is not None:
        raise ValueError(problem)
    return value


def _text(max_length: int) -> StringConstraints:
    # Blanks are stripped first, so the text must hold something that is not a blank;
    # the pattern says so in the schema (a blank-only name would be refused as empty).
    return StringConstraints(
        strip_whitespace=True, min_length=1, max_length=max_length, pattern=r"\S"
    )


Code = Annotated[str, Field(pattern=CODE, description="letters, digits, '.', '_', '-'")]
AgencyCode = Annotated[str, Field(pattern=AGENCY_CODE, description="an agency's short code")]
Name = Annotated[str, _text(200)]
Unit = Annotated[str, _text(32)]
Category = Annotated[str, _text(64)]
# unspsc_problem as a pattern, so the schema says it: a segment of 10 or above, and under
# a 00 level only 00 levels.
_LEVEL = "(0[1-9]|[1-9][0-9])"
UNSPSC = rf"^[1-9][0-9](000000|{_LEVEL}0000|{_LEVEL}{{2}}00|{_LEVEL}{{3}})$"
UnspscCode = Annotated[
    str,
    StringConstraints(pattern=UNSPSC),
    BeforeValidator(_unspsc),
    Field(description="UNSPSC code, 8 digits", examples=["42131606"]),
]
Quantity = Annotated[int, BeforeValidator(_whole_number), Field(ge=0, le=INT32_MAX)]
Days = Annotated[int, BeforeValidator(_whole_number), Field(ge=0, le=MAX_DAYS)]
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
# The money columns hold 18 digits, MONEY_SCALE (6) of them after the point.
MONEY_LIMIT = 10 ** (18 - MONEY_SCALE)
# A decimal string is exact, so it may not carry more places than the column keeps.
MONEY_TEXT = rf"^[0-9]{{1,{18 - MONEY_SCALE}}}(\.[0-9]{{1,{MONEY_SCALE}}})?$"
FEE_TEXT = rf"^0{{1,{18 - MONEY_SCALE}}}(\.[0-9]{{1,{MONEY_SCALE}}})?$"


def exact_decimal(
    places: int,
    text: str,
    written: str,
    *,
    mistyped: str | None = None,
    negative: str | None = None,
    ge: int | None = None,
    le: int | None = None,
) -> Callable[[Any], Any]:
    """A reader of a JSON number or decimal string as a column of ``places`` keeps it.

    The string must match ``text`` (which the schema gives, bounds included: a schema
    cannot compare a string with a number), else ``written`` says how it is written; a
    number is rounded half to even to ``places``, as storing it would. ``ge`` and ``le``
    are checked on the value sent, before rounding (1.0000000001 is above 1, not 1); a
    lower bound the model states with ``gt`` applies to the rounded value, which the
    schema says by moving it up by half a last place (``rounded_bounds``). Either way a
    number the schema takes is never refused, nor one it refuses taken, for rounding.
    ``mistyped`` (default ``written``) answers a value that is neither number nor string;
    ``negative``, if given, a string with a leading minus (before ``text`` is tried).
    """
    quantum = Decimal(1).scaleb(-places)

    def read(value: Any) -> Any:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(mistyped or written)
        elif isinstance(value, str):
            if negative is not None and value.strip().startswith("-"):
                raise ValueError(negative)
            if not re.fullmatch(text, value):
                raise ValueError(written)
            number = Decimal(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        else:
            number = Decimal(str(value))
        if not number.is_finite() or abs(number) >= MONEY_LIMIT:
            return number  # the bounds report it; quantize would overflow
        if le is not None and number > le:
            raise ValueError(f"must be at most {le}")
        if ge is not None and number < ge:
            raise ValueError("must be 0 or more" if ge == 0 else f"must be at least {ge}")
        return number.quantize(quantum, rounding=ROUND_HALF_EVEN)

    return read


def rounded_bounds(
    places: int, *, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> dict[str, Any]:
    """The JSON Schema number bounds of ``exact_decimal``'s value: ``gt`` on the rounded
    value (so half a last place above it), ``ge`` and ``le`` on the value sent."""
    half = float(Decimal(1).scaleb(-places) / 2)
    bounds: dict[str, Any] = {"type": "number"}
    if gt is not None:
        bounds["exclusiveMinimum"] = gt + half
    if ge is not None:
        bounds["minimum"] = ge
    if le is not None:
        bounds["maximum"] = le
    return bounds


# A JSON number or a decimal string as the Decimal a money column will hold: a number is
# a binary float on the wire, exact to about 16 digits at best, so it is rounded (half to
# even) to the column's 6 places, as storing it would; a string is exact and must fit the
# column as written (``MONEY_TEXT``). Either way the schema says what is taken, so a
# schema-valid amount is never refused for its form. The bounds are the models' (``ge``,
# ``gt``, ``lt`` in ``Field``).
_money = exact_decimal(
    MONEY_SCALE,
    MONEY_TEXT,
    f"a decimal string has up to {18 - MONEY_SCALE} digits, "
    f'then at most {MONEY_SCALE} after the point, e.g. "1.20"',
    mistyped="enter an amount such as 12.50",
    negative="must be 0 or more",
)


MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_money),
    Field(ge=0, lt=MONEY_LIMIT, description="non-negative, in USD"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "exclusiveMaximum": MONEY_LIMIT},
                {"type": "string", "pattern": MONEY_TEXT},
            ]
        }
    ),
]
# An amount that must be more than 0 (a penalty), as the column holds it: a number at or
# below half the last place rounds to 0 (half to even), and the string form excludes
# zeros with ``not``, so that the schema never promises what is then refused.
PositiveMoneyIn = Annotated[
    Decimal,
    BeforeValidator(_money),
    Field(gt=0, lt=MONEY_LIMIT, description="more than 0"),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "exclusiveMinimum": float(_MONEY_QUANTUM / 2),
                    "exclusiveMaximum": MONEY_LIMIT,
                },
                {
                    "type": "string",
                    "pattern": MONEY_TEXT,
                    "not": {"pattern": rf"^0{{1,{18 - MONEY_SCALE}}}(\.0{{1,{MONEY_SCALE}}})?$"},
                },
            ]
        }
    ),
]


# A fraction of the units in a rule's scope, more than 0 and at most 1 (6 places).
SHARE_TEXT = r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$"
Share = Annotated[
    Decimal,
    BeforeValidator(
        exact_decimal(
            MONEY_SCALE, SHARE_TEXT, 'a share is a fraction from 0 to 1, e.g. 0.3 or "0.3"', le=1
        )
    ),
    Field(gt=0, le=1, description="fraction of the units awarded in the rule's scope"),
    WithJsonSchema(
        {
            "anyOf": [
                rounded_bounds(MONEY_SCALE, gt=0, le=1),
                {"type": "string", "pattern": SHARE_TEXT, "not": {"pattern": r"^0(\.0{1,6})?$"}},
            ],
            "description": "fraction of the units awarded in the rule's scope",
        }
    ),
]
# A percentage from 0 to 100 with two places (a delivery tolerance).
PERCENT_TEXT = r"^([0-9]{1,2}(\.[0-9]{1,2})?|100(\.0{1,2})?)$"
Percent = Annotated[
    Decimal,
    BeforeValidator(
        exact_decimal(2, PERCENT_TEXT, 'a percentage from 0 to 100, e.g. 5 or "2.5"', ge=0, le=100)
    ),
    Field(ge=0, le=100),
    WithJsonSchema(
        {
            "anyOf": [
                rounded_bounds(2, ge=0, le=100),
                {"type": "string", "pattern": PERCENT_TEXT},
            ]
        }
    ),
]


# A fee of 100% of the goods or more is a percentage typed as a fraction ("4.5" for 4.5%).
def _fee_below_one(value: Decimal) -> Decimal:
    if value >= 1:
        # Say what was most likely meant: the rate typed as a percentage.
        percent, fraction = value.normalize(), (value / 100).normalize()
        raise ValueError(f"must be a fraction below 1: {percent:f}% is written {fraction:f}")
    return value


FeeRate = Annotated[
    Decimal,
    BeforeValidator(_money),
    Field(
        ge=0,
        description="handling, insurance or service fee as a fraction of the goods value "
        "(0.045 is 4.5%); 0 = none",
    ),
    AfterValidator(_fee_below_one),
    WithJsonSchema(
        {
            "anyOf": [
                # Below one as the column holds it: 0.9999995 and above round to 1.
                {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMaximum": 1 - float(_MONEY_QUANTUM / 2),
                },
                # A fraction below one, written as the column holds it.
                {"type": "string", "pattern": FEE_TEXT},
            ]
        }
    ),
]
PackSize = Annotated[
    int,
    BeforeValidator(_whole_number),
    Field(ge=1, le=INT32_MAX, description="sold in whole packs of this many units; 1 = by unit"),
]
MoneyOut = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Region = Annotated[str, _text(100)]
Reference = Annotated[str, _text(100)]

# Update bodies: a field left out stays as it is. Fields that cannot be empty are
# declared with their plain type and a default of None, so an explicit null is
# refused (422) rather than read as "leave it".
_KEEP: Any = None


class RequestBody(BaseModel):
    """A request body: a field it does not declare is refused (422), never ignored."""

    model_config = ConfigDict(extra="forbid")


class RowRead(BaseModel):
    """A response body read from a row's attributes."""

    model_config = ConfigDict(from_attributes=True)


# --------------------------------------------------------------------------- items


class ItemCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ppe-mask-n95",
                    "name": "Respirator N95",
                    "unit": "each",
                    "category": "PPE",
                    "unspsc_code": "42131606",
                }
            ]
        },
    )

    id: Code
    name: Name
    unit: Unit = Field(description="what one unit of quantity is: each, box of 50, kg")
    category: Category
    unspsc_code: UnspscCode | None = None


class ItemUpdate(RequestBody):
    """Fields left out stay as they are; ``unspsc_code: null`` removes the code."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Respirator N95, NIOSH"}, {"active": False}]},
    )

    name: Name = _KEEP
    unit: Unit = Field(
        default=_KEEP, description="refused (409) once needs or offers count in the old unit"
    )
    category: Category = _KEEP
    unspsc_code: UnspscCode | None = None
    active: StrictBool = Field(default=_KEEP, description="false retires the item: no new needs")


class ItemRead(RowRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ppe-mask-n95",
                    "name": "Respirator N95",
                    "unit": "each",
                    "category": "PPE",
                    "unspsc_code": "42131606",
                    "active": True,
                    "created_at": "2026-11-28T21:30:00Z",
                    "updated_at": "2026-11-28T21:30:00Z",
                }
            ]
        },
    )

    id: str
    name: str
    unit: str
    category: str
    unspsc_code: str | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


# ----------------------------------------------------------------------- locations


COORDINATES_APART = "give latitude and longitude together, or neither"


def coordinates_apart(latitude: float | None, longitude: float | None) -> bool:
    """True when one coordinate is given without the other (a body's or a stored row's)."""
    return (latitude is None) != (longitude is None)


def _both_or_neither(latitude: float | None, longitude: float | None) -> None:
    if coordinates_apart(latitude, longitude):
        raise ValueError(COORDINATES_APART)


# coordinates_apart as JSON Schema, so clients (and the contract fuzzing) see it.
_COORDINATES_TOGETHER: dict[str, Any] = {
    "anyOf": [
        {
            "properties": {"latitude": {"type": "number"}, "longitude": {"type": "number"}},
            "required": ["latitude", "longitude"],
        },
        {"properties": {"latitude": {"type": "null"}, "longitude": {"type": "null"}}},
    ]
}


class LocationCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "pa-darien-lajas-blancas",
                    "name": "Lajas Blancas reception station",
                    "region": "Darién",
                    "latitude": 8.2617,
                    "longitude": -77.7322,
                }
            ],
            **_COORDINATES_TOGETHER,
        },
    )

    id: Code
    name: Name
    region: Region | None = Field(default=None, description="province or comarca, for the 3W")
    latitude: Latitude | None = None
    longitude: Longitude | None = None

    @model_validator(mode="after")
    def _coordinates(self) -> LocationCreate:
        _both_or_neither(self.latitude, self.longitude)
        return self


class LocationUpdate(RequestBody):
    """Fields left out stay as they are; null clears region or coordinates."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"region": "Comarca Emberá-Wounaan"}, {"active": False}]},
    )

    name: Name = _KEEP
    region: Region | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    active: StrictBool = _KEEP


class LocationRead(RowRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "pa-darien-lajas-blancas",
                    "name": "Lajas Blancas reception station",
                    "region": "Darién",
                    "latitude": 8.2617,
                    "longitude": -77.7322,
                    "active": True,
                    "created_at": "2026-11-28T21:30:00Z",
                    "updated_at": "2026-11-28T21:30:00Z",
                }
            ]
        },
    )

    id: str
    name: str
    region: str | None
    latitude: float | None
    longitude: float | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


# ----------------------------------------------------------------------- suppliers


class SupplierCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "sup-001",
                    "name": "Distribuidora Médica del Istmo",
                    "country": "PA",
                    "contact_email": "ventas@dmi.example.pa",
                }
            ]
        },
    )

    id: Code
    name: Name
    country: str | None = Field(default=None, pattern=COUNTRY, description="ISO 3166 alpha-2")
    contact_email: str | None = Field(default=None, pattern=EMAIL, max_length=254)


class SupplierUpdate(RequestBody):
    """Fields left out stay as they are; null clears country or contact."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"contact_email": "licitaciones@dmi.example.pa"}]},
    )

    name: Name = _KEEP
    country: str | None = Field(default=None, pattern=COUNTRY)
    contact_email: str | None = Field(default=None, pattern=EMAIL, max_length=254)
    active: StrictBool = Field(default=_KEEP, description="false: its offers leave future runs")


class SupplierRead(RowRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "sup-001",
                    "name": "Distribuidora Médica del Istmo",
                    "country": "PA",
                    "contact_email": "ventas@dmi.example.pa",
                    "active": True,
                    "created_at": "2026-11-28T21:30:00Z",
                    "updated_at": "2026-11-28T21:30:00Z",
                }
            ]
        },
    )

    id: str
    name: str
    country: str | None
    contact_email: str | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


# -------------------------------------------------------------------------- offers


class OfferPriceTier(RequestBody):
    """All-units tier: from ``min_quantity`` up, every unit of the order costs ``unit_price``."""

    min_quantity: Quantity
    unit_price: MoneyIn


_TIERS_DESCRIPTION = (
    "all-units discount tiers: min_quantity strictly increasing, unit_price never rising; "
    "a first tier above 0 acts as a minimum order"
)
_ELIGIBLE_DESCRIPTION = "agencies that may buy through the offer: null = every agency, [] = none"
_OWNER_DESCRIPTION = (
    "set when the offer is this agency's long-term agreement that others piggyback on; "
    "only that agency's specialists (or an admin) may then change the offer"
)


class OfferCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "supplier_id": "sup-001",
                    "item_id": "ppe-mask-n95",
                    "reference": "LTA-UNHCR-PA-2026-014",
                    "price_tiers": [
                        {"min_quantity": 0, "unit_price": 1.20},
                        {"min_quantity": 10000, "unit_price": 1.00},
                    ],
                    "capacity": 50000,
                    "min_order_quantity": 1000,
                    "lead_time_days": 10,
                    "eligible_agencies": None,
                    "owner_agency_id": "UNHCR",
                    "valid_from": "2026-01-01",
                    "valid_to": "2026-12-31",
                }
            ]
        },
    )

    supplier_id: Code
    item_id: Code
    reference: Reference | None = Field(default=None, description="the supplier's or LTA number")
    price_tiers: list[OfferPriceTier] = Field(
        min_length=1, max_length=MAX_TIERS, description=_TIERS_DESCRIPTION
    )
    capacity: Quantity = Field(description="most units the offer delivers in one run")
    min_order_quantity: Quantity = Field(default=0, description="0 = none")
    lead_time_days: Days = Field(description="from order to dispatch")
    pack_size: PackSize = 1
    fee_rate: FeeRate = Decimal(0)
    eligible_agencies: list[AgencyCode] | None = Field(
        default=None, max_length=100, description=_ELIGIBLE_DESCRIPTION
    )
    owner_agency_id: AgencyCode | None = Field(default=None, description=_OWNER_DESCRIPTION)
    valid_from: IsoDate
    valid_to: IsoDate | None = Field(default=None, description="null: open-ended")


class OfferUpdate(RequestBody):
    """Fields left out stay as they are. ``price_tiers`` replaces every tier at once.

    Supplier and item are not editable: an offer for another item or from another
    supplier is another offer.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "price_tiers": [
                        {"min_quantity": 0, "unit_price": 1.15},
                        {"min_quantity": 20000, "unit_price": 0.95},
                    ],
                    "capacity": 60000,
                },
                {"eligible_agencies": ["IOM", "UNHCR"], "valid_to": "2027-03-31"},
            ]
        },
    )

    reference: Reference | None = None
    price_tiers: list[OfferPriceTier] = Field(
        default=_KEEP, min_length=1, max_length=MAX_TIERS, description=_TIERS_DESCRIPTION
    )
    capacity: Quantity = _KEEP
    min_order_quantity: Quantity = _KEEP
    lead_time_days: Days = _KEEP
    pack_size: PackSize = _KEEP
    fee_rate: FeeRate = _KEEP
    eligible_agencies: list[AgencyCode] | None = Field(
        default=None, max_length=100, description=_ELIGIBLE_DESCRIPTION
    )
    owner_agency_id: AgencyCode | None = Field(default=None, description=_OWNER_DESCRIPTION)
    valid_from: IsoDate = _KEEP
    valid_to: IsoDate | None = None


class PriceTierRead(RowRead):
    min_quantity: int
    unit_price: MoneyOut


class OfferRead(RowRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "supplier_id": "sup-001",
                    "item_id": "ppe-mask-n95",
                    "reference": "LTA-UNHCR-PA-2026-014",
                    "price_tiers": [
                        {"min_quantity": 0, "unit_price": 1.2},
                        {"min_quantity": 10000, "unit_price": 1.0},
                    ],
                    "capacity": 50000,
                    "min_order_quantity": 1000,
                    "lead_time_days": 10,
                    "pack_size": 20,
                    "fee_rate": 0.045,
                    "eligible_agencies": None,
                    "owner_agency_id": "UNHCR",
                    "valid_from": "2026-01-01",
                    "valid_to": "2026-12-31",
                    "created_at": "2026-11-28T21:30:00Z",
                    "updated_at": "2026-11-28T21:30:00Z",
                }
            ]
        },
    )

    id: int
    supplier_id: str
    item_id: str
    reference: str | None
    price_tiers: list[PriceTierRead]
    capacity: int
    min_order_quantity: int
    lead_time_days: int
    pack_size: int
    fee_rate: MoneyOut
    eligible_agencies: list[str] | None = Field(
        validation_alias=AliasChoices("eligible_agencies", "eligible_agency_ids"),
        description=_ELIGIBLE_DESCRIPTION,
    )
    owner_agency_id: str | None
    valid_from: dt.date
    valid_to: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime


# -------------------------------------------------------------------------- routes


class RouteCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "supplier_id": "sup-001",
                    "location_id": "pa-darien-lajas-blancas",
                    "fixed_cost": 500.0,
                    "unit_cost": 0.01,
                    "transit_days": 3,
                }
            ]
        },
    )

    supplier_id: Code
    location_id: Code
    fixed_cost: MoneyIn = Field(default=Decimal(0), description="charged once per run if used")
    unit_cost: MoneyIn = Field(default=Decimal(0), description="per unit moved")
    transit_days: Days


class RouteUpdate(RequestBody):
    """Fields left out stay as they are. Supplier and location make the route: not editable."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"fixed_cost": 650.0, "transit_days": 4}]},
    )

    fixed_cost: MoneyIn = _KEEP
    unit_cost: MoneyIn = _KEEP
    transit_days: Days = _KEEP


class RouteRead(RowRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 4,
                    "supplier_id": "sup-001",
                    "location_id": "pa-darien-lajas-blancas",
                    "fixed_cost": 500.0,
                    "unit_cost": 0.01,
                    "transit_days": 3,
                    "created_at": "2026-11-28T21:30:00Z",
                    "updated_at": "2026-11-28T21:30:00Z",
                }
            ]
        },
    )

    id: int
    supplier_id: str
    location_id: str
    fixed_cost: MoneyOut
    unit_cost: MoneyOut
    transit_days: int
    created_at: dt.datetime
    updated_at: dt.datetime
