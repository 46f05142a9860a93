"""Cursor pagination, built once: `?limit=&cursor=` in, `{items, next_cursor}` out."""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from erp.errors import InvalidRequest

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (max 500).")]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequest("cursor: not a cursor this API issued.") from None
    if not isinstance(values, list) or len(values) != width:
        raise InvalidRequest("cursor: not a cursor this API issued.")
    if not all(isinstance(v, (int, str)) and (not isinstance(v, str) or "\x00" not in v) for v in values):
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
        after = decode_cursor(cursor, len(keys))
        statement = statement.where(tuple_(*keys) > tuple_(*after))
    labels = [f"_cursor_{i}" for i in range(len(keys))]
    statement = statement.add_columns(*(key.label(label) for key, label in zip(keys, labels, strict=True)))
    rows = (await session.execute(statement.order_by(*keys).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1]._mapping[label] for label in labels]) if more else None
    return Page[Any](items=[to_item(r) for r in rows], next_cursor=next_cursor)
