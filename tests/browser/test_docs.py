"""A person opening /docs on a machine without internet: headless Chromium against the real service
(`erp serve`), every request it makes recorded. Swagger UI must render every operation of the document
from assets this server serves, and the browser must ask no other host for anything."""

from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Route, async_playwright

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (.ci/run installs it); never a downloaded browser
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


async def test_swagger_ui_renders_every_operation_with_no_request_to_another_host(live_server, tmp_path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    base = live_server.removesuffix("/api/v1")
    here = urlsplit(base).netloc
    document = httpx.get(f"{base}/openapi.json", timeout=30).json()
    operations = sum(len(ops) for ops in document["paths"].values())

    requested: list[str] = []
    elsewhere: list[str] = []

    async def only_this_server(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == here or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:  # refused, and remembered: the page must not need it
            elsewhere.append(url)
            await route.abort()

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1280, "height": 1600})
        try:
            await context.route("**/*", only_this_server)
            page = await context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
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
    assert failed == 0 and not errors, errors
    assert not elsewhere, f"the docs page asked other hosts for {elsewhere}"
    assert requested and all(urlsplit(url).netloc == here for url in requested if url.startswith("http")), requested
    assert any(url.endswith(".js") for url in requested) and any(url.endswith(".css") for url in requested)
