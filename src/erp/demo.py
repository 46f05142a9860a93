"""A realistic data set so the API is worth exploring at once: warehouses with bins, products, stock."""

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth import Principal
from erp.inventory import availability, catalogue, ledger
from erp.inventory.models import Product
from erp.inventory.schemas import AdjustmentCreate, LocationCreate, ProductCreate, WarehouseCreate
from erp.orders import cancellation, contacts, picking, placement, shipping
from erp.orders.schemas import (
    CancelRequest,
    ContactCreate,
    OrderCreate,
    OrderOut,
    PackRequest,
    PickConfirm,
    PickListCreate,
    ShipmentCreate,
)
from erp.people import service as people
from erp.people.models import Person
from erp.people.schemas import PersonCreate
from erp.returns import repairs
from erp.returns import service as returns
from erp.returns import view as returns_view
from erp.returns.schemas import PartIn, RefundCreate, ReturnClose, ReturnCreate, ReturnInspect, ReturnReceive
from erp.suppliers import purchase_orders, receiving, replenishment
from erp.suppliers import service as suppliers
from erp.suppliers.schemas import PurchaseOrderCreate, ReceiptCreate, SupplierCreate, SupplierProductPut

WAREHOUSES = [
    WarehouseCreate(code="MAD-1", name="Madrid central", priority=10, handling_days=1),
    WarehouseCreate(code="BER-1", name="Berlin hub", priority=20, handling_days=2),
    WarehouseCreate(code="NYC-1", name="New Jersey fulfilment", priority=30, handling_days=1),
]

CATALOGUE = [
    ("Laptop", ["13in ultrabook", "15in workstation", "14in business"]),
    ("Monitor", ["24in IPS", "27in 4K", "34in ultrawide"]),
    ("Keyboard", ["mechanical TKL", "wireless slim", "ergonomic split"]),
    ("Mouse", ["wireless", "vertical ergonomic", "gaming"]),
    ("Headset", ["USB office", "noise-cancelling", "DECT wireless"]),
    ("Dock", ["USB-C 7-port", "Thunderbolt 4"]),
    ("Cable", ["USB-C 1m", "USB-C 2m", "HDMI 2.1 2m", "DisplayPort 1.4 2m", "Cat6 3m"]),
    ("Charger", ["65W USB-C", "100W GaN", "laptop 90W"]),
    ("Webcam", ["1080p", "4K conference"]),
    ("Chair", ["task chair", "executive chair"]),
    ("Desk", ["sit-stand 140cm", "sit-stand 160cm"]),
    ("Lamp", ["LED desk lamp", "monitor light bar"]),
    ("Printer", ["mono laser", "colour inkjet"]),
    ("Toner", ["black 2k", "black 5k", "cyan", "magenta", "yellow"]),
    ("Paper", ["A4 80g 500", "A4 100g 250"]),
    ("Router", ["Wi-Fi 6", "Wi-Fi 7 mesh"]),
    ("SSD", ["1TB NVMe", "2TB NVMe", "4TB portable"]),
    ("Backpack", ["15in commuter", "17in travel"]),
]


# One person per role, to sign in to the pages with; the passwords are public, so this is for a demo only.
DEMO_PEOPLE = [("ada", "admin"), ("lucia", "service"), ("jon", "warehouse"), ("sam", "purchasing"),
               ("iris", "integration")]


def demo_password(name: str) -> str:
    return f"{name}-demo-pass"


async def load_people(session: AsyncSession) -> list[tuple[str, str, str]]:
    """The demo people (name, role, password), created if missing."""
    existing = set((await session.execute(select(Person.name))).scalars())
    for name, role in DEMO_PEOPLE:
        if name not in existing:
            await people.create_person(session, PersonCreate(name=name, role=role, password=demo_password(name)))
    return [(name, role, demo_password(name)) for name, role in DEMO_PEOPLE]


async def is_loaded(session: AsyncSession) -> bool:
    return (await session.execute(select(Product.id).limit(1))).first() is not None


async def load(session: AsyncSession, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    bins: dict[str, list[str]] = {}
    for warehouse in WAREHOUSES:
        await catalogue.create_warehouse(session, warehouse)
        bins[warehouse.code] = []
        sequence = 0
        for aisle in "ABC":
            for rack in range(1, 5):
                for level in (1, 2):
                    sequence += 10
                    code = f"{aisle}-{rack:02d}-{level}"
                    await catalogue.create_location(session, warehouse.code, LocationCreate(code=code, sequence=sequence))
                    bins[warehouse.code].append(code)

    products = []
    for family, variants in CATALOGUE:
        for variant in variants:
            n = len(products) + 1
            sku = f"{family[:3].upper()}-{n:03d}"
            reorder_point = rng.choice([0, 5, 10, 20])
            products.append(
                await catalogue.create_product(
                    session,
                    ProductCreate(
                        sku=sku,
                        name=f"{family} {variant}",
                        barcode=f"84{n:011d}",
                        reorder_point=reorder_point,
                        reorder_max=reorder_point * 4,
                    ),
                )
            )

    adjustments = 0
    for i, product in enumerate(products):
        if i % 10 == 9:
            continue  # some products are out of stock everywhere: backorders are part of the story
        for warehouse in WAREHOUSES:
            if rng.random() < 0.25:
                continue
            for code in rng.sample(bins[warehouse.code], rng.randint(1, 2)):
                await ledger.adjust(
                    session,
                    AdjustmentCreate(
                        sku=product.sku,
                        location=f"{warehouse.code}/{code}",
                        quantity_delta=rng.choice([3, 5, 8, 12, 20, 40, 60]),
                        reason="initial_stock",
                        reference="DEMO-OPENING",
                    ),
                    actor="demo",
                )
                adjustments += 1
    skus = [p.sku for p in products]
    # Orders that will come back are shipped first: each pick list takes the oldest order waiting.
    to_return = await ship_orders_to_return(session, skus, rng)
    orders_placed = await load_orders(session, skus, rng)
    purchase_orders, coming = await load_purchasing(session, skus, rng)
    returns = await load_returns(session, to_return, part=coming[0])
    return {"warehouses": len(WAREHOUSES), "products": len(products), "stock_adjustments": adjustments,
            "orders": orders_placed + len(to_return), "suppliers": len(SUPPLIERS), "purchase_orders": purchase_orders,
            "returns": returns}


BUYER = Principal(-4, "demo buyer (Sam)", "purchasing")
SUPPLIERS = [
    SupplierCreate(code="NORTHWIND", name="Northwind Peripherals", email="orders@northwind.example", lead_time_days=10),
    SupplierCreate(code="ACME", name="Acme Office Supply", email="sales@acme.example", lead_time_days=21),
]


async def load_purchasing(session: AsyncSession, skus: list[str], rng: random.Random) -> tuple[int, list[str]]:
    """Suppliers for every product, and purchase orders: one sent (dated supply that backorders are promised
    from), one half-received awaiting inspection, and drafts from replenishment. Returns how many, and the
    products out of stock that the sent one brings to Madrid."""
    today = date.today()
    for supplier in SUPPLIERS:
        await suppliers.create_supplier(session, supplier)
    for n, sku in enumerate(skus):
        supplier = SUPPLIERS[n % 2]
        await suppliers.put_supplier_product(session, supplier.code, sku, SupplierProductPut(
            supplier_sku=f"{supplier.code[:2]}-{sku}", unit_cost=Decimal(rng.choice([4, 9, 19, 49, 129, 349])),
            currency="EUR", min_order_quantity=rng.choice([1, 5, 10]), preferred=True), BUYER)
    stock = await availability.load(session, skus)
    missing = [sku for sku in skus if stock[sku].available_now == 0]
    by_supplier = {code: [sku for n, sku in enumerate(skus) if SUPPLIERS[n % 2].code == code and sku in missing]
                   for code in (s.code for s in SUPPLIERS)}
    sent = await purchase_orders.create_purchase_order(session, PurchaseOrderCreate.model_validate({
        "supplier": SUPPLIERS[0].code, "warehouse": "MAD-1",
        "lines": [{"sku": sku, "quantity": 20, "expected_date": (today + timedelta(days=12)).isoformat()}
                  for sku in by_supplier[SUPPLIERS[0].code][:3]]}), BUYER, today)
    await purchase_orders.send(session, sent.number, BUYER)
    checked = await purchase_orders.create_purchase_order(session, PurchaseOrderCreate.model_validate({
        "supplier": SUPPLIERS[1].code, "warehouse": "BER-1", "inspection_required": True,
        "lines": [{"sku": sku, "quantity": 30} for sku in by_supplier[SUPPLIERS[1].code][:2]]}), BUYER, today)
    await purchase_orders.send(session, checked.number, BUYER)
    await receiving.receive(session, checked.number, ReceiptCreate.model_validate(
        {"lines": [{"sku": by_supplier[SUPPLIERS[1].code][0], "quantity": 12}]}), PICKER, tolerance_percent=5)
    drafts = await replenishment.accept(session, None, BUYER, today)
    return 2 + len(drafts), [line.sku for line in sent.lines]


REP = Principal(-1, "demo rep (Lucia)", "service")
PICKER = Principal(-2, "demo picker (Jon)", "warehouse")
VERIFIER = Principal(-3, "demo verifier (Mei)", "warehouse")
CUSTOMERS = [("Ana Ruiz", "ana.ruiz@example.com"), ("Bruno Keller", "bruno@example.de"),
             ("Chloe Martin", "chloe.martin@example.fr"), ("Dev Patel", "dev.patel@example.com"),
             ("Eva Novak", "eva.novak@example.cz"), ("Farid Haddad", "farid@example.com"),
             ("Grace Kim", "grace.kim@example.com"), ("Hugo Silva", "hugo.silva@example.pt")]


# What a customer pays per unit, by product family.
PRICES = {"Laptop": "1299", "Monitor": "349", "Keyboard": "89", "Mouse": "39", "Headset": "129", "Dock": "199",
          "Cable": "12.90", "Charger": "49.90", "Webcam": "79", "Chair": "399", "Desk": "599", "Lamp": "45",
          "Printer": "249", "Toner": "69", "Paper": "9.90", "Router": "179", "SSD": "149", "Backpack": "69"}
# SKU -> family, in the order `load` numbers the products.
FAMILY_OF = {f"{family[:3].upper()}-{n:03d}": family for n, family in enumerate(
    (family for family, variants in CATALOGUE for _ in variants), 1)}


async def place(session: AsyncSession, customer: tuple[str, str], lines: list[tuple[str, int]],
                channel: str = "web") -> OrderOut:
    name, email = customer
    return await placement.place_order(session, OrderCreate.model_validate({
        "customer": {"name": name, "email": email}, "channel": channel, "currency": "EUR",
        "lines": [{"sku": sku, "quantity": q, "unit_price": PRICES[FAMILY_OF[sku]]} for sku, q in lines]}), REP, date.today())


async def pick_and_pack(session: AsyncSession, order: OrderOut, pack: bool = True) -> None:
    """Picked by one person, verified and packed by another."""
    today = date.today()
    for warehouse in {a.warehouse for line in order.lines for a in line.allocations}:
        listed = await picking.create_pick_list(session, PickListCreate(warehouse=warehouse, max_orders=1), PICKER)
        for line in listed.lines:
            await picking.confirm_pick(session, listed.id, PickConfirm(
                location=line.location, sku=line.sku, quantity=line.quantity), PICKER, today)
    if pack:
        await shipping.pack(session, order.number, PackRequest.model_validate(
            {"items": [{"sku": line.sku, "quantity": line.quantity} for line in order.lines]}), VERIFIER, today)


async def load_orders(session: AsyncSession, skus: list[str], rng: random.Random) -> int:
    """Orders in every state, each driven through the same services the API uses."""
    today = date.today()
    stock = await availability.load(session, skus)
    at_madrid = [sku for sku in skus if any(s.code == "MAD-1" and s.available >= 4 for s in stock[sku].stock)]
    nowhere = [sku for sku in skus if stock[sku].available_now == 0]
    customers = iter(CUSTOMERS)
    placed: list[str] = []

    async def place_next(lines: list[tuple[str, int]], channel: str = "web") -> OrderOut:
        order = await place(session, next(customers), lines, channel)
        placed.append(order.number)
        return order

    picks = rng.sample(at_madrid, 8)
    delivered = await place_next([(picks[0], 1), (picks[1], 2)], "phone")
    await pick_and_pack(session, delivered)
    await shipping.ship(session, delivered.number, ShipmentCreate(carrier="SEUR", tracking_number="SEU-4410021"),
                          PICKER)
    await shipping.mark_delivered(session, delivered.number, PICKER)

    shipped = await place_next([(picks[2], 1)])
    await pick_and_pack(session, shipped)
    await shipping.ship(session, shipped.number, ShipmentCreate(carrier="DHL", tracking_number="JD0146000055"),
                          PICKER)

    partial = await place_next([(picks[3], 1), (picks[4], 1)], "email")
    await pick_and_pack(session, partial)
    await shipping.ship(session, partial.number, ShipmentCreate.model_validate(
        {"carrier": "UPS", "tracking_number": "1Z999AA10123456784", "lines": [{"sku": picks[3], "quantity": 1}]}),
        PICKER)

    await pick_and_pack(session, await place_next([(picks[5], 2)], "store"))
    await pick_and_pack(session, await place_next([(picks[6], 1)], "chat"), pack=False)
    await place_next([(picks[7], 1)], "api")
    waiting = await place_next([(nowhere[0], 2), (picks[7], 1)], "phone")
    for summary in ("Customer asks when the order arrives", "Customer asks again; promised a call back",
                    "Called back with the current promise", "Customer escalates: needs it this week"):
        await contacts.add_contact(session, waiting.number, ContactCreate(
            channel="phone", direction="inbound", summary=summary), REP)
    cancelled = await place_next([(picks[1], 1)], "social")
    await cancellation.cancel(session, cancelled.number, CancelRequest(reason="ordered twice by mistake"), REP, today)
    return len(placed)


RETURN_CUSTOMERS = [("Ines Moreau", "ines.moreau@example.fr"), ("Jonas Berg", "jonas.berg@example.se"),
                    ("Kofi Mensah", "kofi@example.com"), ("Lena Vogel", "lena.vogel@example.de"),
                    ("Marco Rossi", "marco.rossi@example.it"), ("Nora Lind", "nora.lind@example.no")]


async def ship_orders_to_return(session: AsyncSession, skus: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """Six orders of two units each, shipped: (number, sku)."""
    stock = await availability.load(session, skus)
    spare = [sku for sku in skus if any(s.code == "MAD-1" and s.available >= 6 for s in stock[sku].stock)]
    shipped = []
    for customer, sku in zip(RETURN_CUSTOMERS, rng.sample(spare, len(RETURN_CUSTOMERS)), strict=True):
        order = await place(session, customer, [(sku, 2)], "web")
        await pick_and_pack(session, order)
        await shipping.ship(session, order.number, ShipmentCreate(carrier="GLS", tracking_number=f"GLS-{order.number}"),
                            PICKER)
        shipped.append((order.number, sku))
    return shipped


async def load_returns(session: AsyncSession, shipped: list[tuple[str, str]], part: str) -> int:
    """A return in each state: an advance replacement authorized, goods received and awaiting inspection,
    a repair waiting for a part due on a purchase order, a refund resolved, a claim rejected, one
    cancelled."""
    today = date.today()

    async def authorize(n: int, quantity: int, reason: str, resolution: str, advance: bool = False) -> str:
        number, sku = shipped[n]
        return (await returns.authorize(session, ReturnCreate.model_validate({
            "order": number, "resolution": resolution, "advance_replacement": advance,
            "lines": [{"sku": sku, "quantity": quantity, "reason": reason}]}), REP, today))[1]

    await authorize(0, 1, "damaged_in_transit", "replacement", advance=True)
    await returns.receive(session, await authorize(1, 1, "no_longer_needed", "refund"), ReturnReceive(), PICKER, today)
    for_repair = await authorize(2, 1, "defective", "repair")
    await returns.receive(session, for_repair, ReturnReceive(), PICKER, today)
    await returns.inspect(session, for_repair, ReturnInspect.model_validate(
        {"lines": [{"sku": shipped[2][1], "repair": 1}], "notes": "fan rattles"}), VERIFIER, today)
    repair = (await returns_view.return_view(session, for_repair)).repairs[0].number
    await repairs.add_part(session, repair, PartIn(sku=part, quantity=2), PICKER, today)
    refunded = await authorize(3, 2, "not_as_described", "refund")
    await returns.receive(session, refunded, ReturnReceive(), PICKER, today)
    await returns.refund(session, refunded, RefundCreate.model_validate(
        {"amount": str(2 * Decimal(PRICES[FAMILY_OF[shipped[3][1]]])), "currency": "EUR",
         "method": "original_payment", "reference": "PSP-88213"}), REP)
    await returns.inspect(session, refunded, ReturnInspect.model_validate(
        {"lines": [{"sku": shipped[3][1], "restock": 2}]}), VERIFIER, today)
    await returns.reject(session, await authorize(4, 1, "wrong_item", "refund"),
                         ReturnClose(reason="the customer ordered this model"), REP, today)
    await returns.cancel(session, await authorize(5, 1, "no_longer_needed", "refund"),
                         ReturnClose(reason="the customer keeps it"), REP, today)
    return 6
