"""The service dashboard (`/dashboard`): the figures of `GET /metrics/service`, for the roles it is for, with
a bad period or channel told on the page."""

import html
import re
from datetime import date, timedelta

import pytest

from erp.pages.dashboard import percent
from tests.pages import test_pages
from tests.pages.test_pages import _browser, sign_in
from tests.service.test_figures import given_the_data_set

# The pages' fixtures: a browser (httpx on the app) and Lucia (service), Jon (warehouse), Ada (admin), Sam.
browser, people = test_pages.browser, test_pages.people

TODAY = date.today()


def text_of(page: str, element_id: str) -> str:
    """The text of the element with `element_id` (tags dropped, spaces folded)."""
    found = re.search(rf'id="{element_id}"(.*?)</(?:div|svg|table)>', page, re.S)
    assert found, element_id
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def _shown(share):
    return f"{percent(share['rate'])} {share['numerator']} of {share['denominator']}" if share["rate"] is not None \
        else "no data nothing to count"


async def test_the_dashboard_shows_the_figures_of_the_api_for_the_period_and_channel(browser, people, api,
                                                                                     database_url):
    await given_the_data_set(api, database_url)
    await sign_in(browser, "Lucia")
    for query, params in (("", {}), ("?channel=phone", {"channel": "phone"}),
                          (f"?from={TODAY - timedelta(days=60)}&to={TODAY}&channel=",
                           {"from": str(TODAY - timedelta(days=60)), "to": str(TODAY), "channel": ""})):
        figures = await api.as_("service").ok("get", "/metrics/service" + query.replace("&channel=", ""))
        page = await browser.get("/dashboard", params=params)
        assert page.status_code == 200, page.text
        text = page.text
        for element_id, share in (("fill-rate", figures["fill_rate"]), ("on-time", figures["on_time_shipment"]),
                                  ("promise-accuracy", figures["promise_accuracy"]),
                                  ("first-contact", figures["first_contact_resolution"]),
                                  ("picks-in-full", figures["pick_accuracy"]["picks_in_full"]),
                                  ("pack-verification", figures["pick_accuracy"]["pack_verification"]),
                                  ("return-rate", figures["returns"]["overall"])):
            assert _shown(share) in text_of(text, element_id), (query, element_id, text_of(text, element_id))
        assert f'value="{figures["period_from"]}"' in text and f'value="{figures["period_to"]}"' in text
        touches = text_of(text, "touches-chart")
        for bucket in figures["touches"]["histogram"]:
            label = f"{bucket['touches']}+" if bucket["more"] else str(bucket["touches"])
            assert f"{label} {bucket['orders']} orders" in touches, touches
        ages = text_of(text, "ages")
        for bucket in figures["open_backorders"]["age_buckets"]:
            assert f"{bucket['days']} {bucket['lines']} lines" in ages, ages
        for row in figures["returns"]["by_product"]:
            assert f"{row['key']} {percent(row['rate'])} ({row['units_returned']} of {row['units_shipped']})" in \
                text_of(text, "returns-product")
        for row in figures["supplier_scores"]:
            assert row["supplier"] in text_of(text, "suppliers")
        repairs = figures["repair_turnaround"]
        assert (f"{repairs['average_days']} days" if repairs["completed"] else "no data") in text_of(text, "repairs")
        assert "<circle" in text  # a dot per day with shipments (a line joins consecutive ones)
    # The hand-computed figures (tests/service/test_figures.py), as a person reads them.
    page = (await browser.get("/dashboard")).text
    assert "80% 4 of 5" in text_of(page, "fill-rate") and "50% 1 of 2" in text_of(page, "promise-accuracy")
    # No order of the chat channel was resolved: no data, not 0 %.
    chat = (await browser.get("/dashboard", params={"channel": "chat"})).text
    assert "no data" in text_of(chat, "first-contact") and "0%" not in text_of(chat, "first-contact")


@pytest.mark.parametrize(("params", "message"), [
    ({"from": "2026-13-01"}, "“From”: 2026-13-01 is not a date on the calendar."),
    ({"to": "yesterday"}, "“To”: a date as YYYY-MM-DD."),
    ({"from": "1999-12-31"}, "“From”: 1999-12-31 is before 2000-01-01."),
    ({"from": "2026-11-20", "to": "2026-11-01"}, "from (2026-11-20) is after to (2026-11-01)."),
    ({"from": "2024-01-01", "to": "2025-12-31"}, "The period is 731 days; at most 366."),
    ({"channel": "fax"}, "“Channel”: fax is not one of"),
])
async def test_a_bad_period_or_channel_is_told_on_the_page(browser, people, params, message):
    await sign_in(browser, "Lucia")
    page = await browser.get("/dashboard", params=params)
    assert page.status_code == 422
    assert message in html.unescape(page.text), page.text
    assert 'role="alert"' in page.text and "<svg" not in page.text and 'name="from"' in page.text


async def test_the_dashboard_is_for_service_and_admin(browser, people, app):
    assert (await browser.get("/dashboard")).headers["location"] == "/"
    await sign_in(browser, "Jon")
    refused = await browser.get("/dashboard")
    assert refused.status_code == 403 and "Not for your role" in refused.text
    async with _browser(app) as admin:
        await sign_in(admin, "Ada")
        page = await admin.get("/dashboard")
        assert page.status_code == 200 and 'href="/dashboard"' in page.text
        # Nothing yet: every rate says so.
        assert "no data" in text_of(page.text, "fill-rate") and "no data" in text_of(page.text, "on-time")
