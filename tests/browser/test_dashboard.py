"""A rep opens the service dashboard in headless Chromium against the real service (`erp serve`) on the demo
data set (its shipments spread over the last weeks, so the charts have a shape): every chart renders as SVG
with its numbers as text, the page fits 1280x800 and 360 px, and no request goes to another host.
Screenshots go to tests/screenshots/."""


import asyncpg
import httpx
from playwright.async_api import async_playwright

from erp import demo
from erp.db import create_engine, sessionmaker
from erp.reactions import build_bus
from tests.browser.offline import ARGS, CHROMIUM, SCREENSHOTS, OnlyThisServer
from tests.conftest import _dsn
from tests.conftest import test_settings as settings

# Spread what the demo did today over the last 20 days: orders placed, lines shipped (some after their
# promise), contacts logged; a few backorders made older.
SPREAD = [
    "UPDATE sales_order SET created_at = created_at - (id % 24) * interval '1 day'",
    "UPDATE order_line l SET shipped_at = o.created_at + (1 + l.id % 3) * interval '1 day',"
    " promised_date = (o.created_at + (1 + l.id % 2) * interval '1 day')::date,"
    " first_promised_date = (o.created_at + interval '1 day')::date"
    " FROM sales_order o WHERE o.id = l.order_id AND l.shipped_at IS NOT NULL",
    "UPDATE order_line SET shipped_at = least(shipped_at, now()) WHERE shipped_at IS NOT NULL",
]


async def given_the_demo(database_url: str, api: str, key: str) -> None:
    engine = create_engine(database_url, settings())
    try:
        async with sessionmaker(engine, build_bus())() as session, session.begin():
            await demo.load(session)
            await demo.load_people(session)
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        for statement in SPREAD:
            await connection.execute(statement)
        numbers = [row[0] for row in await connection.fetch("SELECT number FROM sales_order ORDER BY id LIMIT 30")]
    finally:
        await connection.close()
    # Contacts through the API (each with its event): 0 to 5 per order, a few above the threshold.
    async with httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for n, number in enumerate(numbers):
            for call in range(n * 7 % 6):
                response = await http.post(f"/orders/{number}/contacts", json={
                    "channel": "phone", "direction": "inbound", "summary": f"call {call + 1}: where is it?"})
                assert response.status_code == 201, response.text


async def test_a_rep_reads_the_dashboard_charts_at_1280_and_360_px(live_server, database_url, keys, tmp_path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    await given_the_demo(database_url, live_server, keys["service"])
    base = live_server.removesuffix("/api/v1")
    browsing = OnlyThisServer(base)
    figures = httpx.get(f"{live_server}/metrics/service", headers={"Authorization": f"Bearer {keys['service']}"},
                        timeout=30).json()
    SCREENSHOTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1280, "height": 800})
        try:
            await browsing.watch(context)
            page = browsing.page(await context.new_page())

            await page.goto(f"{base}/", wait_until="networkidle")
            await page.fill("input[name=name]", "lucia")
            await page.fill("input[name=password]", demo.demo_password("lucia"))
            await page.click("button:has-text('Sign in')")
            await page.wait_for_url(f"{base}/service")
            await page.screenshot(path=str(SCREENSHOTS / "service-attention.png"), full_page=True)
            attention = await page.inner_text("#attention")
            await page.click("nav >> text=Dashboard")
            await page.wait_for_url(f"{base}/dashboard")
            charts = {}
            for chart in ("trend", "touches-chart", "ages", "returns-product"):
                svg = page.locator(f"svg#{chart}")
                charts[chart] = {"box": await svg.bounding_box(), "text": await svg.locator("text").all_text_contents(),
                                 "marks": await svg.locator("rect, circle, polyline").count()}
            fill_rate = await page.inner_text("#fill-rate")
            await page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

            await page.select_option("select[name=channel]", "web")
            await page.click("button:has-text('Show')")
            await page.wait_for_load_state("networkidle")
            web_channel = page.url

            await page.set_viewport_size({"width": 360, "height": 740})
            await page.goto(f"{base}/dashboard", wait_until="networkidle")
            width_360 = await page.evaluate("document.documentElement.scrollWidth")
            trend_360 = await page.locator("svg#trend").bounding_box()
            await page.screenshot(path=str(SCREENSHOTS / "dashboard-360.png"), full_page=True)
            # Closer looks, at the phone's own scale.
            for part in ("trend", "returns-product"):
                await page.locator(f"svg#{part}").screenshot(path=str(SCREENSHOTS / f"dashboard-360-{part}.png"))
            await page.locator("#suppliers").screenshot(path=str(SCREENSHOTS / "dashboard-360-suppliers.png"))
            await page.goto(f"{base}/dashboard?from=2026-02-30", wait_until="networkidle")
            bad = await page.inner_text("[role=alert]")
        finally:
            await context.close()

    assert "SO-" in attention
    for name, chart in charts.items():
        assert chart["box"] and chart["box"]["width"] > 250 and chart["marks"] > 0, (name, chart)
    assert {"0%", "50%", "100%"} <= set(charts["trend"]["text"])
    assert [t for t in charts["ages"]["text"] if "-" in t or "+" in t] == ["0-7", "8-14", "15-30", "31-60", "61+"]
    ages = {b["days"]: str(b["lines"]) for b in figures["open_backorders"]["age_buckets"]}
    assert charts["ages"]["text"] == [text for bucket, count in ages.items() for text in (count, bucket)]
    top = figures["returns"]["by_product"]
    assert not top or any(row["key"] in charts["returns-product"]["text"] for row in top)
    share = figures["fill_rate"]
    assert f"{share['numerator']} of {share['denominator']}" in fill_rate
    assert "channel=web" in web_channel
    assert width_360 <= 360 and trend_360 and trend_360["width"] <= 340
    assert "2026-02-30 is not a date on the calendar" in bad
    browsing.assert_nothing_from_elsewhere()
    assert any(url.endswith("/static/dashboard.css") for url in browsing.requested)
