"""Constrained types shared by every API schema: bounded, NUL-free, and strict about extra fields."""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_QUANTITY = 1_000_000_000

NO_NUL = r"^[^\x00]*$"
# Whitespace as Python's str.isspace() has it, spelled out: `\s` means another set in the JSON Schema
# (ECMA-262) dialect than in the server's, so a pattern with `\s` would say one thing and check another.
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
Sku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]
Code = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Z0-9][A-Z0-9_\-]*$")]
LocationCode = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9_.\-]*$")]
# A location address, `WAREHOUSE/LOCATION`, e.g. `MAD-1/A-01-1`.
LocationRef = Annotated[str, StringConstraints(min_length=3, max_length=49, pattern=r"^[A-Z0-9][A-Z0-9_\-]*/[A-Z0-9][A-Z0-9_.\-]*$")]
# A name: no NUL, and neither starting nor ending with whitespace (refused, not trimmed: what the schema says
# is what is stored).
Name = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                        pattern=rf"^[^\x00{WHITESPACE}]([^\x00]*[^\x00{WHITESPACE}])?$")]
# The document a move belongs to (a count sheet, an order, a PO).
Reference = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
Text = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]
Barcode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]
_EMAIL_PART = rf"[^@\x00{WHITESPACE}]+"
Email = Annotated[str, StringConstraints(max_length=254, pattern=rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Count = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]


# More unknown fields than this in one object are refused as one error, not one error each: a 1 MiB body
# of 100,000 unknown keys would otherwise cost the event loop half a second building the error list.
MAX_UNKNOWN_FIELDS = 20


def example(body: dict[str, Any]) -> ConfigDict:
    """A request body's one example, for the OpenAPI document: `model_config = example({...})`."""
    return ConfigDict(json_schema_extra={"examples": [body]})


class Input(BaseModel):
    """Base of every request body: unknown fields are refused, never ignored, and every value must be of the
    JSON type the schema names (strict): `"quantity": true`, `"1"` or `1.0` is 422, not one unit. Query and
    path parameters are not bodies: they arrive as text and are parsed as before."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _not_flooded_with_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > len(cls.model_fields) + MAX_UNKNOWN_FIELDS:
            raise PydanticCustomError(
                "too_many_fields",
                "{count} fields given where at most {allowed} are known",
                {"count": len(data), "allowed": len(cls.model_fields)},
            )
        return data


def _each_sku_once(lines: list[Any]) -> list[Any]:
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        raise ValueError("each sku may appear on one line only; add the quantities")
    return lines


# Lines of one document (order, purchase order, receipt, cancel, shipment): one line per sku.
OneLinePerSku = AfterValidator(_each_sku_once)


DECIMAL_STRING = r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,4})?$"


def _decimal_string(value: Any) -> Decimal:
    # Money travels as a string, never a JSON number (a float would already have lost cents). A Decimal comes
    # from code (the demo data), never from JSON, and is held to the same bounds.
    if isinstance(value, Decimal) and value.is_finite():
        value = format(value, "f")
    if not isinstance(value, str) or not re.fullmatch(DECIMAL_STRING, value):
        raise ValueError('a decimal string with at most 10 digits before the point and 4 after, like "49.90"')
    return Decimal(value)


# Dates a client sends are `YYYY-MM-DD` and nothing else: not a timestamp (`0` is not 1970-01-01), not a
# datetime, and within bounds, so that no date arithmetic on them can leave the calendar.
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# The earliest date a period may start on; nothing in this system happened before it.
EARLIEST_DATE = date(2000, 1, 1)
# How far ahead a client may date anything (an expected delivery, a period's end): about five years.
HORIZON_DAYS = 5 * 366


def latest_date(today: date | None = None) -> date:
    return (today or date.today()) + timedelta(days=HORIZON_DAYS)


def _iso_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # built in code, not sent by a client
    if not isinstance(value, str) or not re.fullmatch(ISO_DATE, value):
        raise ValueError("a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a date on the calendar") from None


def _not_beyond_the_horizon(value: date) -> date:
    if value > latest_date():
        raise ValueError(f"{value} is more than {HORIZON_DAYS // 366} years ahead (at most {latest_date()})")
    return value


def _within_bounds(value: date) -> date:
    if value < EARLIEST_DATE:
        raise ValueError(f"{value} is before {EARLIEST_DATE}")
    return _not_beyond_the_horizon(value)


_DATE_SCHEMA = {"type": "string", "format": "date", "pattern": ISO_DATE}
# A date a client sends: `YYYY-MM-DD` only.
IsoDate = Annotated[date, PlainValidator(_iso_date), WithJsonSchema({**_DATE_SCHEMA, "examples": ["2026-12-03"]})]
# A UUID, which JSON carries as text (strict validation would insist on a UUID object).
Uuid = Annotated[UUID, Field(strict=False)]
# A date something is expected on: at most about five years ahead (whether it may be in the past is the
# service's rule, which knows what "today" is for the request).
FutureDate = Annotated[IsoDate, AfterValidator(_not_beyond_the_horizon)]
# A date that bounds a period of a report (`?from=`, `?to=`): from 2000-01-01 to about five years ahead.
PeriodDate = Annotated[IsoDate, AfterValidator(_within_bounds)]


def _plain(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


# An amount of money in a request: a decimal string, at least 0.
Price = Annotated[Decimal, PlainValidator(_decimal_string),
                  WithJsonSchema({"type": "string", "pattern": DECIMAL_STRING, "examples": ["49.90"]})]
# An amount of money in a response: a decimal string without trailing zeros.
Money = Annotated[Decimal, PlainSerializer(_plain, return_type=str),
                  WithJsonSchema({"type": "string", "examples": ["49.9"]}, mode="serialization")]
