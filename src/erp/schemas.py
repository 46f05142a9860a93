"""Constrained types shared by every API schema: bounded, NUL-free, and strict about extra fields."""

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

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
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Count = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]


class Input(BaseModel):
    """Base of every request body: unknown fields are refused, never ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _each_sku_once(lines: list[Any]) -> list[Any]:
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        raise ValueError("each sku may appear on one line only; add the quantities")
    return lines


# Lines of one document (order, purchase order, receipt, cancel, shipment): one line per sku.
OneLinePerSku = AfterValidator(_each_sku_once)
