"""The outbox: every state change is recorded as an event in the transaction that made it.

An order's timeline is its events; integrations read the same events as a feed.
"""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth import allow
from erp.db import SessionDep
from erp.models import Event
from erp.pagination import Limit, Page, paginate
from erp.routing import router as make_router

EventReader = allow("admin", "service", "integration")

# Every event type the system writes, `<resource>.<what happened>` (DOMAIN.md section 8): what webhook
# subscriptions choose from. `record` refuses any other, so this list stays complete.
EVENT_TYPES = (
    "order.placed", "order.status_changed", "order.cancelled", "order.contact_logged", "order.pick_listed",
    "order.picked", "order.short_picked", "order.reallocated", "order.backorder_filled", "order.repromised",
    "order.packed", "order.pack_mismatch", "order.shipped", "order.delivered",
    "hold.placed", "hold.converted", "hold.released", "hold.expired",
    "purchase_order.created", "purchase_order.sent", "purchase_order.cancelled", "purchase_order.closed",
    "purchase_order.date_changed", "purchase_order.received", "purchase_order.inspected",
    "return.authorized", "return.received", "return.inspected", "return.replacement_placed", "return.refunded",
    "return.cancelled", "return.rejected", "return.status_changed",
    "repair.opened", "repair.part_added", "repair.part_removed", "repair.parts_reserved", "repair.repromised",
    "repair.queued", "repair.in_progress", "repair.waiting_parts", "repair.completed", "repair.shipped",
    "repair.unrepairable", "repair.outcome_chosen",
)

INSERT = text(
    "INSERT INTO event (type, subject, order_id, actor, channel, data)"
    " VALUES (:type, :subject, :order_id, :actor, :channel, CAST(:data AS jsonb))"
)


async def record(
    session: AsyncSession,
    type: str,
    subject: str,
    actor: str,
    *,
    order_id: int | None = None,
    channel: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}: add it to erp.events.EVENT_TYPES")
    await session.execute(
        INSERT,
        {"type": type, "subject": subject, "order_id": order_id, "actor": actor, "channel": channel,
         "data": json.dumps(data or {}, default=str)},
    )


class EventOut(BaseModel):
    id: int
    type: str
    subject: str
    actor: str
    channel: str | None
    data: dict[str, Any]
    at: datetime


router = make_router(tags=["events"])


@router.get("/events")
async def list_events(
    actor: EventReader,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Return events with id greater than this.")] = 0,
    type: Annotated[str | None, Query(max_length=60, pattern=r"^[a-z_.]+$")] = None,
    limit: Limit = 50,
) -> Page[EventOut]:
    """The outbox as a feed, oldest first: poll with `after` = the last id you processed."""
    query = select(Event).where(Event.id > after)
    if type is not None:
        query = query.where(Event.type == type)
    return await paginate(session, query, [Event.id], limit, None, lambda r: EventOut(
        id=r[0].id, type=r[0].type, subject=r[0].subject, actor=r[0].actor, channel=r[0].channel,
        data=r[0].data, at=r[0].created_at))
