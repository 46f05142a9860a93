"""Contacts: every customer interaction about an order is a touch (DOMAIN.md section 6)."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import events
from erp.auth import Principal
from erp.orders.lines import order_id
from erp.orders.schemas import ContactCreate, ContactOut

INSERT_CONTACT = text(
    "INSERT INTO order_contact (order_id, channel, direction, summary, rep) VALUES (:o, :c, :d, :s, :r)"
    " RETURNING id, created_at"
)
CONTACTS_OF = text(
    "SELECT c.id, c.channel, c.direction, c.summary, c.rep, c.created_at FROM order_contact c"
    " JOIN sales_order o ON o.id = c.order_id WHERE o.number = :number ORDER BY c.id DESC"
)


async def add_contact(session: AsyncSession, number: str, data: ContactCreate, actor: Principal) -> ContactOut:
    oid = await order_id(session, number)
    row = (await session.execute(INSERT_CONTACT, {"o": oid, "c": data.channel, "d": data.direction,
                                                  "s": data.summary, "r": actor.name})).one()
    await events.record(session, "order.contact_logged", number, actor.name, order_id=oid, channel=data.channel,
                        data={"direction": data.direction, "summary": data.summary})
    return ContactOut(id=row.id, channel=data.channel, direction=data.direction, summary=data.summary,
                      rep=actor.name, at=row.created_at)


def to_contact(row: Any) -> ContactOut:
    return ContactOut(id=row.id, channel=row.channel, direction=row.direction, summary=row.summary, rep=row.rep,
                      at=row.created_at)


async def contacts_of(session: AsyncSession, number: str) -> list[ContactOut]:
    """The order's contacts, latest first."""
    return [to_contact(row) for row in await session.execute(CONTACTS_OF, {"number": number})]
