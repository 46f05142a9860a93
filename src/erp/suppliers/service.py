"""Suppliers and their terms per product: who we buy from, at what price and lead time."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import bus
from erp.auth import Principal
from erp.concurrency import IfMatch
from erp.db import add_unique, first_or_404
from erp.errors import VersionConflict
from erp.inventory import catalogue, ledger
from erp.inventory.messages import SupplyChanged
from erp.suppliers.models import Supplier
from erp.suppliers.schemas import SupplierCreate, SupplierProductOut, SupplierProductPut

SUPPLIER = text("SELECT * FROM supplier WHERE code = :c")
UNPREFER_OTHERS = text(
    "UPDATE supplier_product SET preferred = false WHERE product_id = :p AND supplier_id <> :s AND preferred"
)
PUT_TERMS = text("""
    INSERT INTO supplier_product (supplier_id, product_id, supplier_sku, unit_cost, currency, lead_time_days,
                                  min_order_quantity, preferred)
    VALUES (:s, :p, :sku, :cost, :cur, :lead, :moq, :pref)
    ON CONFLICT (supplier_id, product_id) DO UPDATE SET supplier_sku = excluded.supplier_sku,
        unit_cost = excluded.unit_cost, currency = excluded.currency, lead_time_days = excluded.lead_time_days,
        min_order_quantity = excluded.min_order_quantity, preferred = excluded.preferred, updated_at = now(),
        version = supplier_product.version + 1
    RETURNING version
""")
TERMS_VERSION = text("SELECT version FROM supplier_product WHERE supplier_id = :s AND product_id = :p FOR UPDATE")


async def get_supplier(session: AsyncSession, code: str) -> Supplier:
    row = await first_or_404(session, SUPPLIER, {"c": code}, missing=f"No supplier {code!r}.")
    return Supplier.model_validate(row._mapping)


async def create_supplier(session: AsyncSession, data: SupplierCreate) -> Supplier:
    return await add_unique(session, Supplier.model_validate(data), f"A supplier with code {data.code!r} exists.")


async def put_supplier_product(session: AsyncSession, code: str, sku: str, data: SupplierProductPut,
                               actor: Principal, expected: IfMatch | None = None) -> SupplierProductOut:
    supplier = await get_supplier(session, code)
    product = await catalogue.get_product(session, sku)
    if expected is not None:
        current = (await session.execute(TERMS_VERSION, {"s": supplier.id, "p": product.id})).scalar()
        if current is None and not expected.any:
            raise VersionConflict(f"{code} has no terms for {sku} yet; nothing matches If-Match.")
        if current is not None:
            expected.check(current, f"{code}'s terms for {sku}")
    lead_time = supplier.lead_time_days if data.lead_time_days is None else data.lead_time_days
    if data.preferred:
        await session.execute(UNPREFER_OTHERS, {"p": product.id, "s": supplier.id})
    version = (await session.execute(PUT_TERMS, {
        "s": supplier.id, "p": product.id, "sku": data.supplier_sku, "cost": data.unit_cost, "cur": data.currency,
        "lead": lead_time, "moq": data.min_order_quantity, "pref": data.preferred})).scalar_one()
    # A preferred supplier's lead time is what backorders without dated supply are promised from.
    await ledger.lock_products_everywhere(session, [product.id])
    await bus.publish(session, SupplyChanged((product.id,), actor.name))
    return SupplierProductOut(supplier=code, sku=sku, supplier_sku=data.supplier_sku, unit_cost=data.unit_cost,
                              currency=data.currency, lead_time_days=lead_time,
                              min_order_quantity=data.min_order_quantity, preferred=data.preferred, version=version)
