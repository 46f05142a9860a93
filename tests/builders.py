"""Small builders that arrange a scenario through the public API: `await given_stock(api, ...)`."""

from typing import Any


async def given_warehouse(api: Any, code: str = "WH-1", priority: int = 10, handling_days: int = 1,
                          bins: tuple[str, ...] = ("A-01", "A-02", "B-01")) -> dict[str, Any]:
    warehouse = await api.as_("admin").ok(
        "post", "/warehouses", {"code": code, "name": f"Warehouse {code}", "priority": priority,
                                "handling_days": handling_days})
    for sequence, bin_code in enumerate(bins):
        await api.as_("admin").ok("post", f"/warehouses/{code}/locations", {"code": bin_code, "sequence": sequence * 10})
    return warehouse


async def given_product(api: Any, sku: str = "SKU-1", barcode: str | None = None, **fields: Any) -> dict[str, Any]:
    return await api.as_("admin").ok("post", "/products", {"sku": sku, "name": f"Product {sku}", "barcode": barcode, **fields})


async def given_stock(api: Any, sku: str, location: str, quantity: int) -> dict[str, Any]:
    return await api.as_("admin").ok(
        "post", "/stock/adjustments",
        {"sku": sku, "location": location, "quantity_delta": quantity, "reason": "initial_stock"})


async def stock_of(api: Any, sku: str, warehouse: str) -> dict[str, Any]:
    page = await api.as_("admin").ok("get", f"/stock?sku={sku}&warehouse={warehouse}")
    (level,) = page["items"]
    return level
