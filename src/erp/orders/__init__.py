from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from erp.inventory import service as inventory


async def _fill_backorders(session: AsyncSession, product_ids: list[int], actor: str) -> None:
    from erp.orders.backorders import fill_backorders

    await fill_backorders(session, product_ids, actor, date.today())


async def _repromise(session: AsyncSession, product_ids: list[int], actor: str) -> None:
    from erp.orders.backorders import repromise_backorders

    await repromise_backorders(session, product_ids, actor, date.today())


# Stock found or received goes to waiting backorders first (first come, first served); changed supply
# dates re-promise them.
inventory.stock_added_hooks.append(_fill_backorders)
inventory.supply_changed_hooks.append(_repromise)
