"""The warehouse's screens in headless Chromium against the real service (`erp serve`): a picker on a 360 px
handheld builds a pick list and picks it by typing scans with Enter, as a keyboard-wedge scanner does (one
wrong scan shows its message and changes nothing); the picker may not pack it; a second person at a desktop
(1280x800) verifies and packs it, and later receives a return of it. Every request is recorded: the pages ask no other host for anything.
Screenshots go to tests/screenshots/."""


import httpx
from playwright.async_api import Page, async_playwright

from tests.browser.offline import ARGS, CHROMIUM, SCREENSHOTS, OnlyThisServer

PASSWORDS = {"Jon": "jon's password", "Mei": "mei's password"}
LAPTOP, MONITOR = "8400000000017", "8400000000024"


def given_an_order_to_pick(api: str, admin_key: str) -> dict:
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=api, headers=headers, timeout=30) as http:
        def ok(method: str, path: str, body: dict | None = None) -> dict:
            response = http.request(method, path, json=body)
            assert response.status_code < 300, (path, response.text)
            return response.json()

        for name, password in PASSWORDS.items():
            ok("POST", "/people", {"name": name, "role": "warehouse", "password": password})
        ok("POST", "/warehouses", {"code": "MAD-1", "name": "Madrid"})
        for sequence, code in enumerate(("A-01", "A-02")):
            ok("POST", "/warehouses/MAD-1/locations", {"code": code, "sequence": sequence})
        for sku, name, barcode, bin_code in (("LAP-1", "Laptop 13in ultrabook", LAPTOP, "A-01"),
                                             ("MON-1", "Monitor 27in 4K", MONITOR, "A-02")):
            ok("POST", "/products", {"sku": sku, "name": name, "barcode": barcode})
            ok("POST", "/stock/adjustments", {"sku": sku, "location": f"MAD-1/{bin_code}", "quantity_delta": 5,
                                              "reason": "found"})
        return ok("POST", "/orders", {
            "customer": {"name": "Ana Ruiz", "email": "ana.ruiz@example.com"}, "channel": "phone",
            "lines": [{"sku": "LAP-1", "quantity": 1}, {"sku": "MON-1", "quantity": 2}]})


async def scan(page: Page, code: str) -> None:
    """What a keyboard-wedge scanner does: type into whatever has the focus, then Enter."""
    assert await page.evaluate("document.activeElement.id") == "scan", "the scan box lost the focus"
    await page.keyboard.type(code)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def test_a_picker_picks_by_scan_and_a_second_person_verifies_and_packs(live_server, keys, tmp_path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    order = given_an_order_to_pick(live_server, keys["admin"])
    number = order["number"]
    base = live_server.removesuffix("/api/v1")
    browsing = OnlyThisServer(base)
    widths: dict[str, int] = {}

    async def shot(page: Page, name: str) -> None:
        widths[name] = await page.evaluate("document.documentElement.scrollWidth")
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    async def signed_in(browser, name: str, viewport: dict) -> Page:
        context = await browser.new_context(viewport=viewport)
        await browsing.watch(context)
        page = browsing.page(await context.new_page())
        await page.goto(f"{base}/", wait_until="networkidle")
        await page.fill("input[name=name]", name)
        await page.fill("input[name=password]", PASSWORDS[name])
        await page.click("button:has-text('Sign in')")
        await page.wait_for_url(f"{base}/warehouse")
        return page

    def admin(method: str, path: str, body: dict | None = None) -> dict:
        with httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {keys['admin']}"}) as http:
            response = http.request(method, path, json=body)
            assert response.status_code < 300, (path, response.text)
            return response.json()

    SCREENSHOTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            # Jon picks on a handheld, 360 px wide.
            jon = await signed_in(browser, "Jon", {"width": 360, "height": 740})
            await shot(jon, "warehouse-360")
            await jon.click("button:has-text('Build a new pick list')")
            await jon.wait_for_url(f"{base}/warehouse/pick-lists/*")
            await shot(jon, "pick-360")
            first_bin = await jon.inner_text("#next")
            await scan(jon, "A-01")
            await scan(jon, MONITOR)  # the monitor is picked in A-02, not here
            wrong = await jon.inner_text("#scan-error")
            await shot(jon, "pick-wrong-scan-360")
            await scan(jon, LAPTOP)
            picked = await jon.inner_text("#scan-ok")
            bin_done = await jon.inner_text("label[for=scan]")
            await scan(jon, "A-02")
            await scan(jon, MONITOR)
            await shot(jon, "pick-at-a-bin-360")
            await scan(jon, MONITOR)
            complete = await jon.inner_text("#complete")

            # Jon may not pack what he picked: the domain's four-eyes rule says so.
            await jon.goto(f"{base}/warehouse/orders/{number}/pack", wait_until="networkidle")
            for code in (LAPTOP, MONITOR, MONITOR):
                await scan(jon, code)
            async with jon.expect_navigation():
                await jon.click("button:has-text('Pack')")
            refused = await jon.inner_text("#scan-error")
            await shot(jon, "pack-refused-360")

            # Mei verifies and packs at a desktop.
            mei = await signed_in(browser, "Mei", {"width": 1280, "height": 800})
            await shot(mei, "warehouse")
            async with mei.expect_navigation():
                await mei.click(f"#to-pack a:has-text('{number}')")
            await scan(mei, "LAP-1")
            await scan(mei, "0000")  # not in this order
            unknown = await mei.inner_text("#scan-error")
            await scan(mei, "2*" + MONITOR)
            await shot(mei, "pack")
            async with mei.expect_navigation():
                await mei.click("button:has-text('Pack')")
            packed = await mei.inner_text("#scan-ok")
            await shot(mei, "pack-done")

            # The order ships; the customer sends a monitor back; Mei receives it by its RMA number.
            admin("POST", f"/orders/{number}/shipments", {"carrier": "DHL", "tracking_number": "JD0146"})
            rma = admin("POST", "/returns", {"order": number, "resolution": "refund", "lines": [
                {"sku": "MON-1", "quantity": 1, "reason": "damaged_in_transit"}]})["number"]
            await mei.goto(f"{base}/warehouse", wait_until="networkidle")
            await mei.fill("input[name=number][placeholder='RMA number']", rma)
            async with mei.expect_navigation():
                await mei.press("input[placeholder='RMA number']", "Enter")
            await shot(mei, "receive-return")
            async with mei.expect_navigation():
                await mei.click("button:has-text('Receive')")
            received = await mei.inner_text("#scan-ok")
            await mei.set_viewport_size({"width": 360, "height": 740})
            await shot(mei, "receive-return-done-360")
        finally:
            await browser.close()

    assert "A-01" in first_bin and "LAP-1" in first_bin
    assert "Wrong product: MON-1 scanned at MAD-1/A-01, which is for LAP-1." in wrong
    assert "Picked 1 × LAP-1 from MAD-1/A-01." in picked
    assert bin_done == "Scan the bin label"  # A-01 is done; the monitor waits in A-02
    assert "Every pick of this list is done." in complete
    assert "Jon picked this order; a second person must verify and pack it." in refused
    assert "not in this order's picks" in unknown
    assert f"Packed {number}" in packed
    view = admin("GET", f"/orders/{number}")
    assert [(line["sku"], line["picked"], line["packed"]) for line in view["lines"]] == [("LAP-1", 1, 1), ("MON-1", 2, 2)]
    assert f"Received on {rma}." in received
    returned = admin("GET", f"/returns/{rma}")
    assert (returned["status"], returned["lines"][0]["received"]) == ("received", 1)
    assert all(width <= (360 if name.endswith("-360") else 1280) for name, width in widths.items()), widths
    browsing.assert_nothing_from_elsewhere()
    assert any(url.endswith("/static/scan.js") for url in browsing.requested)
