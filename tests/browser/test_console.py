"""A rep at the console in headless Chromium against the real service (`erp serve`): sign in, find an order by
the customer's phone, read its promise, log a contact and see the touch count rise; at 1280x800 and 360 px
wide, with every request recorded: the pages ask no other host for anything. Screenshots go to
tests/screenshots/."""

import httpx
from playwright.async_api import async_playwright

from tests.browser.offline import ARGS, CHROMIUM, SCREENSHOTS, OnlyThisServer

PASSWORD = "lucia's password"


def given_an_order(api: str, admin_key: str) -> dict:
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=api, headers=headers, timeout=30) as http:
        def ok(method: str, path: str, body: dict | None = None) -> dict:
            response = http.request(method, path, json=body)
            assert response.status_code < 300, (path, response.text)
            return response.json()

        ok("POST", "/people", {"name": "Lucia", "role": "service", "password": PASSWORD})
        ok("POST", "/warehouses", {"code": "MAD-1", "name": "Madrid"})
        ok("POST", "/warehouses/MAD-1/locations", {"code": "A-01"})
        for sku, name in (("LAP-1", "Laptop 13in ultrabook"), ("MON-1", "Monitor 27in 4K")):
            ok("POST", "/products", {"sku": sku, "name": name})
        ok("POST", "/stock/adjustments", {"sku": "LAP-1", "location": "MAD-1/A-01", "quantity_delta": 5,
                                          "reason": "found"})
        order = ok("POST", "/orders", {
            "customer": {"name": "Ana Ruiz", "email": "ana.ruiz@example.com", "phone": "+34600123456"},
            "channel": "phone", "currency": "EUR",
            "lines": [{"sku": "LAP-1", "quantity": 1, "unit_price": "1299"},
                      {"sku": "MON-1", "quantity": 2, "unit_price": "349"}]})
        return ok("GET", f"/orders/{order['number']}")


async def test_a_rep_signs_in_finds_an_order_reads_its_promise_and_logs_a_contact(live_server, keys, tmp_path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    order = given_an_order(live_server, keys["admin"])
    backordered = next(line for line in order["lines"] if line["sku"] == "MON-1")
    base = live_server.removesuffix("/api/v1")
    browsing = OnlyThisServer(base)
    SCREENSHOTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1280, "height": 800})
        try:
            await browsing.watch(context)
            page = browsing.page(await context.new_page())

            await page.goto(f"{base}/", wait_until="networkidle")
            await page.screenshot(path=str(SCREENSHOTS / "sign-in.png"))
            await page.fill("input[name=name]", "Lucia")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button:has-text('Sign in')")
            await page.wait_for_url(f"{base}/service")
            await page.screenshot(path=str(SCREENSHOTS / "service.png"))

            await page.fill("input[name=q]", "+34 600 123 456")  # by phone, as the customer reads it out
            await page.press("input[name=q]", "Enter")
            await page.wait_for_url(f"{base}/service/orders/{order['number']}")
            status_text = await page.inner_text("#status-text")
            promise = await page.inner_text("#promise")
            lines = await page.inner_text("table")
            touches_before = int(await page.inner_text("#touches"))
            await page.screenshot(path=str(SCREENSHOTS / "case.png"), full_page=True)

            await page.select_option("select[name=channel]", "phone")
            await page.fill("textarea[name=summary]", "Asked when the monitors arrive; read the promise out")
            await page.click("button:has-text('Log contact')")
            await page.wait_for_load_state("networkidle")
            touches_after = int(await page.inner_text("#touches"))
            contacts = await page.inner_text("#contacts")
            await page.screenshot(path=str(SCREENSHOTS / "case-after-contact.png"), full_page=True)

            # The same pages on a phone, 360 px wide: nothing wider than the screen.
            await page.set_viewport_size({"width": 360, "height": 740})
            widths = {}
            for name, path in (("case-360", f"/service/orders/{order['number']}"), ("service-360", "/service")):
                await page.goto(f"{base}{path}", wait_until="networkidle")
                widths[name] = await page.evaluate("document.documentElement.scrollWidth")
                await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
            await page.click("button:has-text('Sign out')")
            await page.wait_for_url(f"{base}/")
            widths["sign-in-360"] = await page.evaluate("document.documentElement.scrollWidth")
            await page.screenshot(path=str(SCREENSHOTS / "sign-in-360.png"))
        finally:
            await context.close()

    assert status_text == order["status_text"]
    assert backordered["reason"] in lines and order["reason"] in promise
    assert (touches_before, touches_after) == (0, 1)
    assert "Asked when the monitors arrive" in contacts and "Lucia" in contacts
    assert all(width <= 360 for width in widths.values()), widths
    browsing.assert_nothing_from_elsewhere()
    assert any(url.endswith("/static/style.css") for url in browsing.requested)
