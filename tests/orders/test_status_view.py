from sqlalchemy import event

from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body


async def test_the_status_view_is_one_query_however_many_lines_the_order_has(app, api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    skus = [f"P-{n}" for n in range(12)]
    for sku in skus:
        await given_product(api, sku)
        await given_stock(api, sku, "MAD-1/A-01", 5)
    small = await api.ok("post", "/orders", order_body(("P-0", 1)))
    large = await api.ok("post", "/orders", order_body(*[(sku, 1) for sku in skus]))
    for n in range(3):
        await api.as_("service").ok("post", f"/orders/{large['number']}/contacts",
                                    {"channel": "email", "direction": "outbound", "summary": f"update {n}"})

    statements: list[str] = []
    engine = app.state.engine.sync_engine

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        await api.as_("service").ok("get", f"/orders/{small['number']}")
        for_small = len(statements)
        statements.clear()
        view = await api.as_("service").ok("get", f"/orders/{large['number']}")
        for_large = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert for_small == for_large
    assert len(view["lines"]) == 12
    assert view["touches"] == 3


async def test_the_status_view_reads_like_an_answer(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_product(api, "MON-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    order = await api.ok("post", "/orders", order_body(("LAP-1", 1), ("MON-1", 2)))
    view = await api.as_("service").ok("get", f"/orders/{order['number']}")
    assert view["status_text"].startswith("Backordered: 2 of 3 items are waiting for supply")
    assert [line["state"] for line in view["lines"]] == ["1 reserved", "2 waiting for supply"]
    assert view["timeline"][0]["summary"] == "Order placed: 1 x LAP-1, 2 x MON-1"
