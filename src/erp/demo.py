"""A realistic data set so the API is worth exploring at once: warehouses with bins, products, stock."""

import random

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from erp.inventory import service as inventory
from erp.inventory.models import Product
from erp.inventory.schemas import AdjustmentCreate, LocationCreate, ProductCreate, WarehouseCreate

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


async def is_loaded(session: AsyncSession) -> bool:
    return (await session.execute(select(Product.id).limit(1))).first() is not None


async def load(session: AsyncSession, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    bins: dict[str, list[str]] = {}
    for warehouse in WAREHOUSES:
        await inventory.create_warehouse(session, warehouse)
        bins[warehouse.code] = []
        sequence = 0
        for aisle in "ABC":
            for rack in range(1, 5):
                for level in (1, 2):
                    sequence += 10
                    code = f"{aisle}-{rack:02d}-{level}"
                    await inventory.create_location(session, warehouse.code, LocationCreate(code=code, sequence=sequence))
                    bins[warehouse.code].append(code)

    products = []
    for family, variants in CATALOGUE:
        for variant in variants:
            n = len(products) + 1
            sku = f"{family[:3].upper()}-{n:03d}"
            reorder_point = rng.choice([0, 5, 10, 20])
            products.append(
                await inventory.create_product(
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
                await inventory.adjust(
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
    return {"warehouses": len(WAREHOUSES), "products": len(products), "stock_adjustments": adjustments}
