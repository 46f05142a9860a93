"""Constrained types shared by every API schema: bounded, NUL-free, and strict about extra fields."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

MAX_QUANTITY = 1_000_000_000

NO_NUL = r"^[^\x00]*$"
Sku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]
Code = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Z0-9][A-Z0-9_\-]*$")]
LocationCode = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9_.\-]*$")]
# A location address, `WAREHOUSE/LOCATION`, e.g. `MAD-1/A-01-1`.
LocationRef = Annotated[str, StringConstraints(min_length=3, max_length=49, pattern=r"^[A-Z0-9][A-Z0-9_\-]*/[A-Z0-9][A-Z0-9_.\-]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=NO_NUL)]
# The document a move belongs to (a count sheet, an order, a PO).
Reference = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
Text = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]
Barcode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Count = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]


# More unknown fields than this in one object are refused as one error, not one error each: a 1 MiB body
# of 100,000 unknown keys would otherwise cost the event loop half a second building the error list.
MAX_UNKNOWN_FIELDS = 20


class Input(BaseModel):
    """Base of every request body: unknown fields are refused, never ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

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
