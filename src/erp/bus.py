"""In-process domain messages: one domain says what happened, others react in the same transaction.

A service publishes (`await bus.publish(session, StockAdded(...))`) without knowing who listens; who
reacts to what is written down once, in `erp.reactions`, and `create_app()` and the CLI hand that bus
to every session they make (`session.info["bus"]`). This is cosmicpython's message bus, kept small:
handlers run at once, in the publisher's transaction, so a reaction commits or rolls back with the
change that caused it.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

Handler = Callable[[AsyncSession, Any], Awaitable[None]]


class Bus:
    def __init__(self, handlers: Mapping[type, Sequence[Handler]]) -> None:
        self.handlers = {kind: tuple(found) for kind, found in handlers.items()}

    async def publish(self, session: AsyncSession, message: Any) -> None:
        for handler in self.handlers.get(type(message), ()):
            await handler(session, message)


async def publish(session: AsyncSession, message: Any) -> None:
    """Hand `message` to every handler registered for its type, in this session's transaction."""
    bus = session.info.get("bus")
    if bus is None:
        raise RuntimeError("this session carries no bus: make it with erp.db.sessionmaker(engine, bus)")
    await bus.publish(session, message)
