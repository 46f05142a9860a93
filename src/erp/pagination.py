"""Cursor pagination, built once: `?limit=&cursor=` in, `{items, next_cursor}` out."""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import BigInteger, Integer, Select, SmallInteger, String, TypeDecorator, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from erp.errors import InvalidRequest

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (max 500).")]
DEFAULT_LIMIT = 50  # every list's page size when none is asked for
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None

    @classmethod
    def model_parametrized_name(cls, params: tuple[type[Any], ...]) -> str:
        """`ProductOutPage`, not `Page_ProductOut_`: the name generated clients give the class."""
        return f"{params[0].__name__}Page"


def name_pages(document: dict[str, Any]) -> None:
    """Rename pydantic's `Page_ProductOut_` schemas of an OpenAPI document to `ProductOutPage`, in place."""
    schemas = document.get("components", {}).get("schemas", {})
    renamed = {old: f"{old[len('Page_'):-1]}Page" for old in schemas if old.startswith("Page_") and old.endswith("_")}
    if not renamed:
        return
    for old, new in renamed.items():
        schemas[new] = schemas.pop(old)
        schemas[new]["title"] = new
    prefix = "#/components/schemas/"

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix) and ref[len(prefix):] in renamed:
                node["$ref"] = prefix + renamed[ref[len(prefix):]]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(document)


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), separators=(",", ":")).encode()).decode().rstrip("=")


def _fits(column: ColumnElement[Any]) -> Callable[[Any], bool]:
    """Whether a decoded cursor value is one the key column could have produced."""
    kind = column.type
    declared_length = getattr(kind, "length", None)
    if isinstance(kind, TypeDecorator):  # SQLModel's AutoString
        kind = kind.impl_instance
    if isinstance(kind, Integer):
        bits = 64 if isinstance(kind, BigInteger) else 16 if isinstance(kind, SmallInteger) else 32
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return lambda v: type(v) is int and low <= v <= high
    if isinstance(kind, String):
        length = declared_length or kind.length or 10_000
        return lambda v: type(v) is str and len(v) <= length and "\x00" not in v
    raise TypeError(f"keyset pagination over {kind!r} is not supported")  # a programming error, found in tests


def decode_cursor(cursor: str, keys: Sequence[ColumnElement[Any]]) -> list[Any]:
    """The key values of a cursor this API issued for `keys`; anything else is 422, never a query."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequest("cursor: not a cursor this API issued.") from None
    if not isinstance(values, list) or len(values) != len(keys):
        raise InvalidRequest("cursor: not a cursor this API issued.")
    if not all(_fits(key)(value) for key, value in zip(keys, values, strict=True)):
        raise InvalidRequest("cursor: not a cursor this API issued.")
    # One spelling per position: another base64 or JSON spelling of the same values was not issued here.
    if encode_cursor(values) != cursor:
        raise InvalidRequest("cursor: not a cursor this API issued.")
    return values


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    keys: Sequence[ColumnElement[Any]],
    limit: int,
    cursor: str | None,
    to_item: Callable[[Any], T],
) -> Page[T]:
    """Keyset pagination over `keys` (unique together, ascending)."""
    if cursor:
        after = decode_cursor(cursor, keys)
        statement = statement.where(tuple_(*keys) > tuple_(*after))
    labels = [f"_cursor_{i}" for i in range(len(keys))]
    statement = statement.add_columns(*(key.label(label) for key, label in zip(keys, labels, strict=True)))
    rows = (await session.execute(statement.order_by(*keys).limit(limit + 1))).all()
    return page_of(rows, limit, lambda row: [row._mapping[label] for label in labels], to_item)


def page_of(rows: Sequence[Any], limit: int, key_of: Callable[[Any], list[Any]], to_item: Callable[[Any], T]) -> Page[T]:
    """The page of `rows`, fetched in key order with one row more than `limit` to tell whether more follow;
    `key_of(row)`: the row's key values, the next page's cursor."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[Any](items=[to_item(r) for r in rows], next_cursor=encode_cursor(key_of(rows[-1])) if more else None)
