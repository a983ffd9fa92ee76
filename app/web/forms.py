"""From an HTML form to the body the API's schema takes, and back.

A form posts text only. ``FormField`` says what each text is (a whole number, an
amount, a date, a choice, a box to tick) and what leaving it blank means, so
``raw_body`` can hand the schema the same JSON-like values an API client would
send. The schema and the services then judge it exactly as they judge the API's
bodies: nothing here checks a rule of its own. Text that cannot be what the field
takes ("five", "1.2.3") is passed on as text, so the schema's own message is the
one shown next to the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from starlette.datastructures import FormData

FieldKind = Literal["text", "int", "money", "number", "date", "bool", "choice"]

# Leaving a field blank leaves it out of the body ("Field required" for a field the
# schema needs, the schema's default otherwise).
OMIT: Any = object()

_WHOLE = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = False
    # Blank means null: the value is cleared (an update) or left unset (a creation).
    nullable: bool = False
    # What a blank means instead, e.g. 0 for "no minimum order".
    blank: Any = OMIT
    # Part of the row's identity: set when it is created, shown but not editable after.
    create_only: bool = False
    # Only on the edit form (``active``: create bodies have no such field).
    edit_only: bool = False
    hint: str | None = None
    # Extra HTML attributes of the input (inputmode, autocomplete, maxlength).
    attrs: str = ""
    # For a choice: the context key holding its options, [(value, label), ...] or
    # [(group, [(value, label), ...]), ...].
    choices: str | None = None

    def on(self, editing: bool) -> bool:
        """Whether the field is on the form being shown."""
        return not (self.create_only and editing) and not (self.edit_only and not editing)


def _number_text(text: str) -> str:
    # Thousands separators and spaces as people type them: "12,000", "12 000".
    return text.replace(",", "").replace(" ", "").replace("\u00a0", "")


def convert(field: FormField, text: str, editing: bool) -> Any:
    """The value ``field`` takes in the body for what was typed (``OMIT``: left out)."""
    if field.kind == "bool":
        return text in ("on", "true", "yes", "1")
    if not text:
        if field.blank is not OMIT:
            return field.blank
        if field.nullable:
            return None
        if not editing:
            # Left out: the schema says the field is required.
            return OMIT
        # An update must not leave it out, as a field left out of an update keeps its
        # value: an empty text or a null, which the schema refuses.
        return "" if field.kind in ("text", "choice") else None
    if field.kind == "int":
        number = _number_text(text)
        return int(number) if _WHOLE.fullmatch(number) else text
    if field.kind == "number":
        try:
            return float(_number_text(text))
        except ValueError:
            return text
    # money, date, text, choice: the schema reads the text itself (an amount as an
    # exact decimal, a date as ISO 8601).
    return text


def values_of(form: FormData, fields: Iterable[FormField], editing: bool) -> dict[str, str]:
    """What the person typed, to show again on the form."""
    values: dict[str, str] = {}
    for field in fields:
        if not field.on(editing):
            continue
        raw = form.get(field.name)
        values[field.name] = raw.strip() if isinstance(raw, str) else ""
    return values


def raw_body(
    values: Mapping[str, str], fields: Iterable[FormField], editing: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field in fields:
        if not field.on(editing):
            continue
        value = convert(field, values.get(field.name, ""), editing)
        if value is not OMIT:
            body[field.name] = value
    return body


def shown(value: Any) -> str:
    """A stored value as the form shows it: an amount without trailing zeros."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return str(value)


def values_from_row(row: Any, fields: Iterable[FormField]) -> dict[str, str]:
    return {field.name: shown(getattr(row, field.name, None)) for field in fields}
