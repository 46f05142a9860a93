"""A person opening /docs on a machine without internet: headless Chromium against the real service
(`erp serve`), every request it makes recorded. Swagger UI must render every operation of the document
from assets this server serves, and the browser must ask no other host for anything."""

import httpx
from playwright.async_api import async_playwright

from tests.browser.offline import ARGS, CHROMIUM, SCREENSHOTS, OnlyThisServer


async def test_swagger_ui_renders_every_operation_with_no_request_to_another_host(live_server, tmp_path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    base = live_server.removesuffix("/api/v1")
    browsing = OnlyThisServer(base)
    document = httpx.get(f"{base}/openapi.json", timeout=30).json()
    operations = sum(len(ops) for ops in document["paths"].values())

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1280, "height": 1600})
        try:
            await browsing.watch(context)
            page = browsing.page(await context.new_page())
            response = await page.goto(f"{base}/docs", wait_until="networkidle")
            assert response is not None and response.status == 200
            await page.wait_for_selector(".opblock", timeout=30_000)
            rendered = await page.locator(".opblock").count()
            title = await page.locator(".info .title").inner_text()
            paths = await page.locator(".opblock-summary-path").all_inner_texts()
            failed = await page.locator(".errors-wrapper").count()
            SCREENSHOTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "docs.png"))
        finally:
            await context.close()

    assert rendered == operations, (rendered, operations)
    assert title.startswith(document["info"]["title"]), title
    assert "/api/v1/orders/{number}" in [p.replace("\u200b", "") for p in paths]
    assert failed == 0
    browsing.assert_nothing_from_elsewhere()
    assert any(url.endswith(".js") for url in browsing.requested) and any(
        url.endswith(".css") for url in browsing.requested)
