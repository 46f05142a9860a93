"""Returns through the API: authorize, receive into quarantine, inspect, refund, replace, cancel, reject."""

from tests.builders import stock_of
from tests.returns.builders import given_shipped_order, given_shop, return_body, ship


async def test_a_refund_return_comes_back_into_quarantine_and_is_refunded_once_received(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 2))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "no_longer_needed")))
    assert (ret["number"], ret["status"], ret["warehouse"]) == ("RMA-000001", "authorized", "MAD-1")
    early = await api.as_("service").post(f"/returns/{ret['number']}/refunds",
                                          {"amount": "49.90", "currency": "EUR", "method": "original_payment"})
    assert (early.status_code, early.json()["code"]) == (409, "refund_not_allowed")

    received = await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    assert received["status"] == "received"
    assert received["refundable_amount"] == "49.9"
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["on_hand"], level["quarantined"]) == (18, 1)

    too_much = await api.as_("service").post(f"/returns/{ret['number']}/refunds",
                                             {"amount": "50.00", "currency": "EUR", "method": "original_payment"})
    assert (too_much.status_code, too_much.json()["code"]) == (409, "refund_not_allowed")
    refunded = await api.as_("service").ok("post", f"/returns/{ret['number']}/refunds",
                                           {"amount": "49.90", "currency": "EUR", "method": "original_payment"})
    assert refunded["refunded_amount"] == "49.9"
    assert refunded["status"] == "received"

    inspected = await api.as_("warehouse2").ok("post", f"/returns/{ret['number']}/inspect",
                                               {"lines": [{"sku": "LAP-1", "restock": 1}]}, status=200)
    assert inspected["status"] == "resolved"
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["on_hand"], level["quarantined"]) == (19, 0)
    view = await api.ok("get", f"/orders/{order['number']}")
    assert view["lines"][0]["returned"] == 1
    assert [r["number"] for r in view["returns"]] == [ret["number"]]
    assert "RMA-000001 resolved" in view["status_text"]
    assert {"return.authorized", "return.received", "return.refunded", "return.inspected"} <= {
        e["type"] for e in view["timeline"]}


async def test_never_more_than_shipped_minus_what_is_already_on_returns(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 3))
    await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 2, "defective")))
    refused = await api.as_("service").post("/returns", return_body(order["number"], ("LAP-1", 2, "defective")))
    assert (refused.status_code, refused.json()["code"]) == (409, "not_returnable")
    assert refused.json()["extra"]["returnable"] == 1
    await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective")))


async def test_units_not_shipped_cannot_be_returned(api):
    await given_shop(api, "LAP-1")
    order = await api.as_("service").ok("post", "/orders", {**{"customer": {"name": "A", "email": "a@example.com"}},
                                                            "channel": "web", "lines": [{"sku": "LAP-1", "quantity": 1}]})
    refused = await api.as_("service").post("/returns", return_body(order["number"], ("LAP-1", 1, "wrong_item")))
    assert (refused.status_code, refused.json()["code"]) == (409, "not_returnable")


async def test_receiving_more_than_authorized_is_refused_and_less_leaves_the_rest_expected(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 3))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 3, "defective")))
    number = ret["number"]
    over = await api.as_("warehouse").post(f"/returns/{number}/receive", {"lines": [{"sku": "LAP-1", "quantity": 4}]})
    assert (over.status_code, over.json()["code"]) == (409, "over_receipt")
    part = await api.as_("warehouse").ok("post", f"/returns/{number}/receive",
                                         {"lines": [{"sku": "LAP-1", "quantity": 1}]}, status=200)
    assert (part["status"], part["lines"][0]["received"]) == ("received", 1)
    assert "1 awaiting inspection" in part["status_text"]
    # The rest will not come: cancel what is still expected; the return stays for what arrived.
    cancelled = await api.as_("service").ok("post", f"/returns/{number}/cancel", {"reason": "customer kept two"},
                                            status=200)
    assert (cancelled["status"], cancelled["lines"][0]["cancelled"]) == ("received", 2)
    view = await api.ok("get", f"/orders/{order['number']}")
    assert (view["lines"][0]["returned"],) == (1,)
    # The two units not sent back can be returned again later.
    await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 2, "defective")))


async def test_the_person_who_received_the_goods_cannot_inspect_them(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 1))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective")))
    await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    same = await api.as_("warehouse").post(f"/returns/{ret['number']}/inspect", {"lines": [{"sku": "LAP-1", "scrap": 1}]})
    assert (same.status_code, same.json()["code"]) == (403, "forbidden")
    inspected = await api.as_("warehouse2").ok("post", f"/returns/{ret['number']}/inspect",
                                               {"lines": [{"sku": "LAP-1", "scrap": 1}]}, status=200)
    assert inspected["lines"][0]["scrapped"] == 1


async def test_an_advance_replacement_is_placed_at_authorization_and_reserves_like_any_order(api):
    await given_shop(api, "LAP-1", stock=3)
    order = await given_shipped_order(api, ("LAP-1", 1))
    ret = await api.as_("service").ok("post", "/returns", return_body(
        order["number"], ("LAP-1", 1, "damaged_in_transit"), resolution="replacement", advance_replacement=True))
    (replacement,) = ret["replacement_orders"]
    assert replacement["status"] == "confirmed"
    assert ret["lines"][0]["replaced"] == 1
    placed = await api.ok("get", f"/orders/{replacement['number']}")
    assert placed["replacement_for"] == ret["number"]
    assert (placed["lines"][0]["reserved"], placed["lines"][0]["unit_price"], placed["currency"]) == (1, "0", "EUR")
    assert (await stock_of(api, "LAP-1", "MAD-1"))["reserved"] == 1
    # The replacement ships; the damaged unit comes back and is scrapped: resolved.
    await ship(api, replacement["number"])
    await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    done = await api.as_("warehouse2").ok("post", f"/returns/{ret['number']}/inspect",
                                          {"lines": [{"sku": "LAP-1", "scrap": 1}]}, status=200)
    assert done["status"] == "resolved"


async def test_a_replacement_without_advance_is_placed_when_the_goods_arrive(api):
    await given_shop(api, "LAP-1", stock=3)
    order = await given_shipped_order(api, ("LAP-1", 2))
    ret = await api.as_("service").ok("post", "/returns", return_body(
        order["number"], ("LAP-1", 2, "wrong_item"), resolution="replacement"))
    assert ret["replacement_orders"] == []
    received = await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive",
                                             {"lines": [{"sku": "LAP-1", "quantity": 1}]}, status=200)
    (replacement,) = received["replacement_orders"]
    placed = await api.ok("get", f"/orders/{replacement['number']}")
    assert placed["lines"][0]["quantity"] == 1


async def test_cancelling_a_return_before_anything_arrives_releases_its_units_and_its_advance_replacement(api):
    await given_shop(api, "LAP-1", stock=3)
    order = await given_shipped_order(api, ("LAP-1", 1))
    ret = await api.as_("service").ok("post", "/returns", return_body(
        order["number"], ("LAP-1", 1, "defective"), resolution="replacement", advance_replacement=True))
    cancelled = await api.as_("service").ok("post", f"/returns/{ret['number']}/cancel", {}, status=200)
    assert cancelled["status"] == "cancelled"
    (replacement,) = cancelled["replacement_orders"]
    assert replacement["status"] == "cancelled"
    assert (await stock_of(api, "LAP-1", "MAD-1"))["reserved"] == 0
    again = await api.as_("service").post(f"/returns/{ret['number']}/receive", {})
    assert again.status_code == 403  # a rep does not receive goods
    again = await api.as_("warehouse").post(f"/returns/{ret['number']}/receive", {})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective")))


async def test_a_rejected_claim_sends_the_goods_back_to_the_customer(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 1))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "not_as_described")))
    await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    rejected = await api.as_("service").ok("post", f"/returns/{ret['number']}/reject", {"reason": "worn, not faulty"},
                                           status=200)
    assert rejected["status"] == "rejected"
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert level["quarantined"] == 0
    view = await api.ok("get", f"/orders/{order['number']}")
    assert (view["lines"][0]["returned"],) == (0,)


async def test_a_line_without_a_price_cannot_be_refunded_by_amount(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 1), price=None)
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective")))
    await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    refused = await api.as_("service").post(f"/returns/{ret['number']}/refunds",
                                            {"amount": "10", "currency": "EUR", "method": "cash"})
    assert (refused.status_code, refused.json()["code"]) == (409, "refund_not_allowed")
    assert "no prices" in refused.json()["detail"]


async def test_a_refund_must_be_a_decimal_string_in_the_orders_currency(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 1))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective")))
    await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    for body in ({"amount": 10, "currency": "EUR", "method": "cash"},
                 {"amount": "-1", "currency": "EUR", "method": "cash"},
                 {"amount": "0", "currency": "EUR", "method": "cash"},
                 {"amount": "1.123456", "currency": "EUR", "method": "cash"}):
        response = await api.as_("service").post(f"/returns/{ret['number']}/refunds", body)
        assert (response.status_code, response.json()["code"]) == (422, "validation_error"), body
    other = await api.as_("service").post(f"/returns/{ret['number']}/refunds",
                                          {"amount": "10", "currency": "USD", "method": "cash"})
    assert (other.status_code, other.json()["code"]) == (422, "validation_error")
