"""The outbox: every state change is recorded as an event in the transaction that made it.

An order's timeline is its events; integrations read the same events as a feed.
"""

import json
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

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
    await session.execute(
        INSERT,
        {"type": type, "subject": subject, "order_id": order_id, "actor": actor, "channel": channel,
         "data": json.dumps(data or {}, default=str)},
    )
