"""The rep's console: the search box finds as `GET /orders?q=` does, several matches are listed to choose
from, the orders that need attention come first; the case page tells how late a line is against its first
promise."""

import re
from datetime import date, timedelta

from tests.pages import test_pages
from tests.pages.test_dashboard import text_of
from tests.pages.test_pages import _sql, given_order, sign_in

TODAY = date.today()
browser, people = test_pages.browser, test_pages.people


async def test_the_search_box_finds_by_phone_name_and_reference_and_lists_several(browser, people, api, database_url):
    first = await given_order(api, "ana@example.com")
    await _sql(database_url, "UPDATE sales_order SET customer_phone = '+34600111222', external_ref = 'SHOP-77'"
                             " WHERE number = :n", n=first["number"])
    second = await api.as_("service").ok("post", "/orders", {
        "customer": {"name": "Ana Ruizábal", "email": "other@example.com"}, "channel": "web",
        "lines": [{"sku": "LAP-1", "quantity": 1}]})
    await sign_in(browser, "Lucia")
    for q in ("+34 600 111 222", "+34-600-111222", "shop-77"):
        found = await browser.get("/service", params={"q": q})
        assert found.headers.get("location") == f"/service/orders/{first['number']}", q
    several = await browser.get("/service", params={"q": "ana ruiz"})
    assert several.status_code == 200 and "2 orders for" in several.text
    assert several.text.index(second["number"]) < several.text.index(first["number"])  # newest first
    assert f'href="/service/orders/{first["number"]}"' in several.text
    nothing = await browser.get("/service", params={"q": "zzz"})
    assert "No order has the number, email, phone, name or reference" in nothing.text
    api_found = await api.as_("service").ok("get", "/orders?q=ana%20ruiz")
    assert {o["number"] for o in api_found["items"]} == {first["number"], second["number"]}


async def test_the_console_lists_orders_that_need_attention(browser, people, api, database_url):
    quiet = await given_order(api)

    async def another(email):
        return await api.as_("service").ok("post", "/orders", {
            "customer": {"name": "Bo", "email": email}, "channel": "web", "lines": [{"sku": "LAP-1", "quantity": 1}]})

    busy, busier = await another("busy@example.com"), await another("busier@example.com")
    for number, calls in ((busy["number"], 4), (busier["number"], 6), (quiet["number"], 2)):
        for n in range(calls):
            await api.as_("service").ok("post", f"/orders/{number}/contacts",
                                        {"channel": "phone", "direction": "inbound", "summary": f"call {n}"})
    late = await api.as_("service").ok("post", "/orders", {
        "customer": {"name": "Eva Late", "email": "late@example.com"}, "channel": "web",
        "lines": [{"sku": "LAP-1", "quantity": 9}]})
    assert late["status"] == "backordered"
    await _sql(database_url, "UPDATE order_line SET promised_date = :d WHERE backordered > 0",
               d=TODAY - timedelta(days=2))
    await sign_in(browser, "Lucia")
    console = await browser.get("/service")
    listed = text_of(console.text, "attention")
    assert [n for n in re.findall(r"SO-\d+", listed)] == [busier["number"], busy["number"], late["number"]]
    assert quiet["number"] not in listed and "many contacts" in listed
    assert f"backorder promised {TODAY - timedelta(days=2)}, now late" in listed
    await api.as_("service").ok("post", f"/orders/{busier['number']}/cancel", {}, status=200)
    after = text_of((await browser.get("/service")).text, "attention")
    assert busier["number"] not in after and busy["number"] in after


async def test_the_case_page_tells_how_late_a_line_is_against_its_first_promise(browser, people, api, database_url):
    order = await given_order(api)
    first = date.fromisoformat(order["lines"][0]["first_promised_date"])
    await sign_in(browser, "Lucia")
    assert "than first promised" not in (await browser.get(f"/service/orders/{order['number']}")).text
    await _sql(database_url, "UPDATE order_line SET promised_date = first_promised_date + 3")
    case = await browser.get(f"/service/orders/{order['number']}")
    assert f"3 days later than first promised ({first})" in case.text
    await _sql(database_url, "UPDATE order_line SET promised_date = first_promised_date + 1")
    case = await browser.get(f"/service/orders/{order['number']}")
    assert f"1 day later than first promised ({first})" in case.text
