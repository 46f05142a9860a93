"""Finding orders (DOMAIN.md section 6): by number, customer email, phone, customer name or external
reference, with the list's filters; the API's `GET /orders` and a rep's page both call `find_orders`.

Each kind of match has an index of its own (migration 0011), so PostgreSQL answers `q` with a bitmap OR
over them instead of reading every order:
- number: `SO-000123`, any case (the unique index on `number`);
- email: the whole address, any case (emails are stored lower-cased);
- phone: the digits of `q` against the digits of the stored phone (`+34 600-000 000` finds `+34600000000`),
  when `q` looks like a phone number with at least PHONE_MIN_DIGITS digits; when nothing matches so, the
  phones that end with those digits (at least PHONE_SUFFIX_MIN_DIGITS), since a customer reads out the
  national number (`600 000 000`) of a phone stored with its country code. That fallback reads every order
  (no index serves a suffix), and only runs when the indexed matches found nothing;
- external reference: the whole reference, any case;
- customer name: every word of `q` begins a word of the name, any case (`ana ru` finds "Ana Ruiz", `ruiz`
  too). The embedded PostgreSQL has no pg_trgm, so a name matches on word beginnings (a full-text index
  with the `simple` configuration), not on any substring.
"""

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, false, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.inventory.models import Product
from erp.orders.models import EXTERNAL_REF_SQL, NAME_WORDS_SQL, PHONE_DIGITS_SQL, OrderLine, SalesOrder
from erp.orders.schemas import OrderSummary
from erp.pagination import Page, paginate

PHONE_MIN_DIGITS = 4
PHONE_SUFFIX_MIN_DIGITS = 7
PHONE_LIKE = re.compile(r"^[0-9+()\-. ]+$")
# The words of a name query: letters and digits, in any script (\w without the underscore).
WORDS = re.compile(r"[^\W_]+")
MAX_WORDS = 8

# The indexed expressions, spelled once for the queries and the indexes (models and migration 0011).
# The indexed expressions (orders/models.py), with their constants written into the SQL, not sent as
# parameters: an index on an expression serves a query only when the expression is the same, constants
# included, also in a generic plan.
PHONE_DIGITS = literal_column(PHONE_DIGITS_SQL.replace("customer_phone", "sales_order.customer_phone"))
NAME_WORDS = literal_column(NAME_WORDS_SQL.replace("customer_name", "sales_order.customer_name"))
EXTERNAL_REF = literal_column(EXTERNAL_REF_SQL.replace("external_ref", "sales_order.external_ref"))


@dataclass(frozen=True, slots=True)
class OrderFilters:
    """What a caller may narrow the list by; `q` finds orders as the module says."""

    q: str | None = None
    status: str | None = None
    customer_email: str | None = None
    sku: str | None = None
    channel: str | None = None


def name_query(q: str) -> str | None:
    """A tsquery in which every word of `q` is a prefix: `ana ru` -> `'ana':* & 'ru':*`; None without words."""
    words = WORDS.findall(q.lower())[:MAX_WORDS]
    return " & ".join(f"'{word}':*" for word in words) or None


def matches(q: str) -> ColumnElement[bool]:
    """The condition an order meets when `q` is its number, email, phone, external reference or name."""
    text_q = q.strip()
    conditions: list[ColumnElement[bool]] = [
        SalesOrder.number == text_q.upper(),
        SalesOrder.customer_email == text_q.lower(),
        EXTERNAL_REF == text_q.lower(),
    ]
    digits = re.sub(r"[^0-9]", "", text_q)
    if PHONE_LIKE.match(text_q) and len(digits) >= PHONE_MIN_DIGITS:
        conditions.append(PHONE_DIGITS == digits)
    words = name_query(text_q)
    if words is not None:
        conditions.append(NAME_WORDS.bool_op("@@")(func.to_tsquery(literal_column("'simple'::regconfig"), words)))
    return or_(*conditions) if text_q else false()


def phone_ending(q: str) -> ColumnElement[bool] | None:
    """The condition a phone ending with the digits of `q` meets, when `q` is a phone number long enough."""
    text_q = q.strip()
    digits = re.sub(r"[^0-9]", "", text_q)
    if not PHONE_LIKE.match(text_q) or len(digits) < PHONE_SUFFIX_MIN_DIGITS:
        return None
    return PHONE_DIGITS.like(f"%{digits}")


def order_query(filters: OrderFilters) -> Select[Any]:
    query = select(SalesOrder)
    if filters.q is not None:
        # The matches first, each through its own index: left in the page's query, PostgreSQL guesses a name
        # prefix matches 2 % of the orders and walks every order by id to fill a page (190 ms for a phone
        # number among 100,000 orders, 1 ms so).
        found = select(SalesOrder.id).where(matches(filters.q)).cte("found").prefix_with("MATERIALIZED")
        ids = select(found.c.id)
        ending = phone_ending(filters.q)
        if ending is not None:  # evaluated once, first: the scan runs only when the indexed matches are empty
            ids = ids.union_all(select(SalesOrder.id).where(ending, ~exists(select(found.c.id))))
        query = query.where(SalesOrder.id.in_(ids))
    if filters.status is not None:
        query = query.where(SalesOrder.status == filters.status)
    if filters.customer_email is not None:
        query = query.where(SalesOrder.customer_email == filters.customer_email.lower())
    if filters.channel is not None:
        query = query.where(SalesOrder.channel == filters.channel)
    if filters.sku is not None:
        query = query.where(SalesOrder.id.in_(
            select(OrderLine.order_id).join(Product, Product.id == OrderLine.product_id)
            .where(Product.sku == filters.sku)))
    return query


async def find_orders(session: AsyncSession, filters: OrderFilters, limit: int = 50,
                      cursor: str | None = None) -> Page[OrderSummary]:
    """Orders meeting every filter, oldest first, a page at a time."""
    return await paginate(session, order_query(filters), [SalesOrder.id], limit, cursor,
                          lambda r: OrderSummary.model_validate(r[0], from_attributes=True))
