import asyncio
from datetime import date, timedelta

from tests.builders import given_product, given_stock, given_warehouse, stock_of

CUSTOMER = {"name": "Ana Ruiz", "email": "Ana@Example.com", "phone": "+34 600 000 000"}


def order_body(*lines, **extra):
    return {"customer": CUSTOMER, "channel": "phone", "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra}


async def given_two_warehouses(api):
    await given_warehouse(api, "MAD-1", priority=10, handling_days=1, bins=("A-01", "A-02"))
    await given_warehouse(api, "BER-1", priority=20, handling_days=3, bins=("B-01",))
    await given_product(api, "LAP-1", barcode="1001")
    await given_product(api, "MON-1", barcode="1002")


async def test_an_order_in_stock_is_confirmed_reserved_and_promised_with_a_reason(api):
    await given_two_warehouses(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    order = await api.as_("service").ok("post", "/orders", order_body(("LAP-1", 4)))
    assert order["number"].startswith("SO-")
    assert order["status"] == "confirmed"
    (line,) = order["lines"]
    assert (line["reserved"], line["backordered"], line["promise_basis"]) == (4, 0, "in_stock")
    assert line["promised_date"] == (date.today() + timedelta(days=1)).isoformat()
    assert line["reason"] == "in stock at MAD-1"
    assert order["customer"]["email"] == "ana@example.com"
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["reserved"], level["available"]) == (4, 6)


async def test_an_order_split_across_warehouses_is_promised_by_the_slowest(api):
    await given_two_warehouses(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 3)
    await given_stock(api, "LAP-1", "BER-1/B-01", 3)
    order = await api.ok("post", "/orders", order_body(("LAP-1", 5)))
    (line,) = order["lines"]
    assert line["allocations"] == [{"warehouse": "MAD-1", "reserved": 3}, {"warehouse": "BER-1", "reserved": 2}]
    assert line["promised_date"] == (date.today() + timedelta(days=3)).isoformat()


async def test_lines_not_covered_are_backordered_with_a_promise_and_reason(api):
    await given_two_warehouses(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 2)
    order = await api.ok("post", "/orders", order_body(("LAP-1", 5), ("MON-1", 1)))
    assert order["status"] == "backordered"
    lap, mon = order["lines"]
    assert (lap["reserved"], lap["backordered"]) == (2, 3)
    assert (mon["reserved"], mon["backordered"], mon["promise_basis"]) == (0, 1, "cannot_promise")
    assert "no supply planned" in mon["reason"]
    assert order["promised_date"] is None
    assert (await stock_of(api, "LAP-1", "MAD-1"))["backordered"] == 3


async def test_refusing_backorders_creates_nothing_and_says_what_could_be_promised(api):
    await given_two_warehouses(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 2)
    await given_stock(api, "MON-1", "MAD-1/A-01", 9)
    response = await api.post("/orders", order_body(("LAP-1", 5), ("MON-1", 1), allow_backorder=False))
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "insufficient_stock"
    lines = {x["sku"]: x for x in problem["extra"]["lines"]}
    assert (lines["LAP-1"]["available_now"], lines["LAP-1"]["promise_basis"]) == (2, "cannot_promise")
    assert lines["MON-1"]["promise_basis"] == "in_stock"
    assert (await api.ok("get", "/orders"))["items"] == []
    assert (await stock_of(api, "LAP-1", "MAD-1"))["reserved"] == 0


async def test_external_ref_is_unique_per_channel(api):
    await given_two_warehouses(api)
    body = order_body(("LAP-1", 1), external_ref="SHOP-77")
    first = await api.as_("integration").ok("post", "/orders", body)
    again = await api.as_("integration").post("/orders", body)
    assert again.status_code == 409
    assert again.json()["extra"]["order"] == first["number"]
    other_channel = await api.as_("integration").post("/orders", {**body, "channel": "web"})
    assert other_channel.status_code == 201


async def test_placing_is_idempotent_a_retry_never_makes_two_orders(api):
    await given_two_warehouses(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    headers = {"Idempotency-Key": "checkout-42"}
    responses = await asyncio.gather(*(api.as_("integration").post("/orders", order_body(("LAP-1", 1)),
                                                                    headers=headers) for _ in range(10)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert len((await api.ok("get", "/orders"))["items"]) == 1
    assert (await stock_of(api, "LAP-1", "MAD-1"))["reserved"] == 1


async def test_bad_orders_are_refused_with_clear_problems(api):
    await given_two_warehouses(api)
    await api.ok("patch", "/products/MON-1", {"active": False})
    cases = [
        (order_body(("NOPE-1", 1)), 404, "not_found"),
        (order_body(("MON-1", 1)), 422, "validation_error"),
        (order_body(("LAP-1", 1), ("LAP-1", 2)), 422, "validation_error"),
        (order_body(("LAP-1", 0)), 422, "validation_error"),
        (order_body(), 422, "validation_error"),
        ({**order_body(("LAP-1", 1)), "status": "shipped"}, 422, "validation_error"),
        ({**order_body(("LAP-1", 1)), "channel": "fax"}, 422, "validation_error"),
        ({**order_body(("LAP-1", 1)), "customer": {"name": "x", "email": "not-an-email"}}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = await api.post("/orders", body)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    assert (await api.ok("get", "/orders"))["items"] == []


async def test_orders_are_listed_and_filtered(api):
    await given_two_warehouses(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    await api.ok("post", "/orders", order_body(("LAP-1", 1)))
    await api.ok("post", "/orders", {**order_body(("MON-1", 1)), "customer": {"name": "Bo", "email": "bo@x.example"}})
    assert len((await api.ok("get", "/orders?status=confirmed"))["items"]) == 1
    assert len((await api.ok("get", "/orders?status=backordered"))["items"]) == 1
    assert len((await api.ok("get", "/orders?customer_email=ANA@example.com"))["items"]) == 1
    assert [o["customer_name"] for o in (await api.ok("get", "/orders?sku=MON-1"))["items"]] == ["Bo"]
    assert (await api.get("/orders?status=lost")).status_code == 422


async def test_availability_answers_without_reserving(api):
    await given_two_warehouses(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 3)
    answer = await api.as_("integration").ok("get", "/availability/LAP-1?quantity=2")
    assert (answer["can_promise"], answer["promise_basis"], answer["available_now"]) == (True, "in_stock", 3)
    assert answer["projection"] == [{"date": date.today().isoformat(), "available": 3, "supply": None}]
    too_many = await api.ok("get", "/availability/LAP-1?quantity=4")
    assert (too_many["can_promise"], too_many["promise_basis"]) == (False, "cannot_promise")
    check = await api.ok("post", "/availability/check", {"lines": [{"sku": "LAP-1", "quantity": 3},
                                                                    {"sku": "MON-1", "quantity": 1}]}, status=200)
    assert [x["promise_basis"] for x in check["lines"]] == ["in_stock", "cannot_promise"]
    assert check["all_in_stock"] is False
    assert (await stock_of(api, "LAP-1", "MAD-1"))["reserved"] == 0
    assert (await api.get("/availability/NOPE")).status_code == 404
