"""Arrange returns through the public API: an order shipped to a customer, ready to come back."""

from typing import Any

from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body


async def given_shop(api: Any, *skus: str, stock: int = 20, warehouse: str = "MAD-1") -> None:
    await given_warehouse(api, warehouse, bins=("A-01", "A-02"))
    for n, sku in enumerate(skus, 1):
        await given_product(api, sku, barcode=f"77{n:04d}")
        if stock:
            await given_stock(api, sku, f"{warehouse}/A-01", stock)


async def ship(api: Any, number: str, warehouse: str = "MAD-1") -> dict[str, Any]:
    """Pick a list (as one person; a scan picks for whichever order's line comes first at that bin, so
    the whole list is picked), verify and pack the order (as another), and ship it."""
    listed = await api.as_("warehouse").ok("post", "/pick-lists", {"warehouse": warehouse})
    for line in listed["lines"]:
        await api.as_("warehouse").ok("post", f"/pick-lists/{listed['id']}/confirm",
                                      {"location": line["location"], "sku": line["sku"], "quantity": line["quantity"]},
                                      status=200)
    view = await api.ok("get", f"/orders/{number}")
    await api.as_("warehouse2").ok("post", f"/orders/{number}/pack", {"items": [
        {"sku": line["sku"], "quantity": line["picked"] - line["packed"]} for line in view["lines"]
        if line["picked"] > line["packed"]]}, status=200)
    return await api.as_("warehouse").ok("post", f"/orders/{number}/shipments",
                                         {"carrier": "DHL", "tracking_number": f"T-{number}"})


async def given_shipped_order(api: Any, *lines: tuple[str, int], price: str | None = "49.90",
                              **extra: Any) -> dict[str, Any]:
    body = order_body(*lines, **extra)
    if price is not None:
        body["currency"] = "EUR"
        for line in body["lines"]:
            line["unit_price"] = price
    order = await api.as_("service").ok("post", "/orders", body)
    await ship(api, order["number"])
    return order


def return_body(order: str, *lines: tuple[str, int, str], resolution: str = "refund", **extra: Any) -> dict[str, Any]:
    return {"order": order, "resolution": resolution,
            "lines": [{"sku": sku, "quantity": q, "reason": reason} for sku, q, reason in lines], **extra}
