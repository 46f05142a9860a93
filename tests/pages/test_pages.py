"""The pages (API.md "Pages"): signing in, sessions, CSRF, the sign-in throttle, the rep's console and an
order's case page with its contact form."""

import asyncio
import re

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from erp.app import create_app
from erp.db import async_url
from tests import conftest
from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body
from tests.returns.builders import given_shipped_order, given_shop, return_body

PASSWORD = "correct horse battery"


def _browser(app, base="http://test"):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=base)


@pytest.fixture
async def browser(app):
    async with _browser(app) as client:
        yield client


@pytest.fixture
async def people(api):
    made = {}
    for name, role in (("Lucia", "service"), ("Jon", "warehouse"), ("Ada", "admin"), ("Sam", "purchasing")):
        made[name] = await api.ok("post", "/people", {"name": name, "role": role, "password": PASSWORD})
    return made


async def _sql(database_url, statement, **params):
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(statement), params)
            return result.all() if result.returns_rows else None
    finally:
        await engine.dispose()


def _field(html, name):
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


async def sign_in(browser, name, password=PASSWORD):
    form = await browser.get("/")
    return await browser.post("/sign-in", data={"csrf": _field(form.text, "csrf"), "name": name, "password": password})


async def given_order(api, email="ana@example.com"):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    body = order_body(("LAP-1", 1))
    body["customer"] = {"name": "Ana Ruiz", "email": email}
    return await api.as_("service").ok("post", "/orders", body)


async def test_anyone_sees_the_sign_in_form_and_a_rep_lands_on_the_console(browser, people, database_url):
    form = await browser.get("/")
    assert form.status_code == 200 and 'action="/sign-in"' in form.text
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
    signed = await browser.post("/sign-in", data={"csrf": _field(form.text, "csrf"), "name": "Lucia",
                                                  "password": PASSWORD})
    assert (signed.status_code, signed.headers["location"]) == (303, "/service")
    cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("erp_session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= attributes and "secure" not in attributes
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    token = cookie.split(";")[0].split("=", 1)[1]
    stored = await _sql(database_url, "SELECT token_hash FROM person_session")
    assert len(stored) == 1 and token not in stored[0][0]
    console = await browser.get("/service")
    assert console.status_code == 200 and "Find an order" in console.text and "Lucia" in console.text
    assert (await browser.get("/")).headers["location"] == "/service"  # signed in: straight home
    browser.cookies.clear()
    assert (await sign_in(browser, " Lucia ")).status_code == 303  # spaces typed around the name are dropped
    browser.cookies.clear()
    signed = await sign_in(browser, "lucia")  # and its case does not matter
    assert signed.status_code == 303
    assert "Lucia" in (await browser.get("/service")).text


async def test_the_session_cookie_is_secure_over_https(app, people):
    async with _browser(app, "https://test") as browser:
        signed = await sign_in(browser, "Lucia")
        cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("erp_session="))
        assert "secure" in cookie.lower()


@pytest.mark.parametrize(("name", "home"), [("Jon", "/warehouse"), ("Ada", "/service"), ("Sam", "/home")])
async def test_each_role_lands_on_its_home(browser, people, name, home):
    signed = await sign_in(browser, name)
    assert signed.headers["location"] == home
    page = await browser.get(home)
    assert page.status_code == 200 and name in page.text


async def test_a_page_for_another_role_is_refused_and_no_page_opens_without_signing_in(browser, people):
    assert (await browser.get("/service")).headers["location"] == "/"
    await sign_in(browser, "Jon")
    refused = await browser.get("/service")
    assert refused.status_code == 403 and "Not for your role" in refused.text


async def test_a_wrong_password_and_an_unknown_name_are_told_apart_by_nothing(browser, people):
    wrong = await sign_in(browser, "Lucia", "not the password")
    unknown = await sign_in(browser, "Nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password." in wrong.text and "Wrong name or password." in unknown.text
    assert "erp_session" not in wrong.headers.get("set-cookie", "")


async def test_after_five_failures_a_name_is_refused_for_a_growing_while_in_every_process(
        browser, people, database_url):
    for _ in range(5):
        assert (await sign_in(browser, "Lucia", "guess")).status_code == 401
    refused = await sign_in(browser, "Lucia")  # even the right password
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in refused.text
    # Another process (another app on the same database) refuses too.
    other = create_app(conftest.test_settings(), database_url=database_url)
    async with other.router.lifespan_context(other), _browser(other) as elsewhere:
        assert (await sign_in(elsewhere, "Lucia")).status_code == 429
    # A name nobody has is throttled alike: refusals say nothing about who exists.
    for _ in range(5):
        await sign_in(browser, "Nobody", "guess")
    assert (await sign_in(browser, "Nobody", "guess")).status_code == 429
    first_wait = (await _sql(database_url, "SELECT blocked_until - now() FROM sign_in_throttle WHERE name = 'lucia'"))[0][0]
    await _sql(database_url, "UPDATE sign_in_throttle SET blocked_until = now() - interval '1 second'")
    assert (await sign_in(browser, "Lucia", "guess again")).status_code == 401
    longer = (await _sql(database_url, "SELECT blocked_until - now() FROM sign_in_throttle WHERE name = 'lucia'"))[0][0]
    assert longer > first_wait
    await _sql(database_url, "UPDATE sign_in_throttle SET blocked_until = now() - interval '1 second'")
    assert (await sign_in(browser, "Lucia")).status_code == 303
    assert await _sql(database_url, "SELECT * FROM sign_in_throttle WHERE name = 'lucia'") == []


async def test_every_form_needs_its_csrf_token(browser, people, api):
    order = await given_order(api)
    no_cookie = await browser.post("/sign-in", data={"csrf": "forged", "name": "Lucia", "password": PASSWORD})
    assert no_cookie.status_code == 403 and "erp_session" not in no_cookie.headers.get("set-cookie", "")
    await sign_in(browser, "Lucia")
    case = await browser.get(f"/service/orders/{order['number']}")
    form_token = _field(case.text, "form_token")
    for csrf in (None, "", "forged"):
        data = {"channel": "phone", "direction": "inbound", "summary": "s", "form_token": form_token}
        if csrf is not None:
            data["csrf"] = csrf
        refused = await browser.post(f"/service/orders/{order['number']}/contacts", data=data)
        assert refused.status_code == 403 and "Form refused" in refused.text
    refused = await browser.post("/sign-out", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert (await api.ok("get", f"/orders/{order['number']}"))["touches"] == 0


async def test_signing_out_ends_the_session_for_good(browser, people, database_url):
    await sign_in(browser, "Lucia")
    console = await browser.get("/service")
    token = browser.cookies["erp_session"]
    out = await browser.post("/sign-out", data={"csrf": _field(console.text, "csrf")})
    assert (out.status_code, out.headers["location"]) == (303, "/")
    assert await _sql(database_url, "SELECT * FROM person_session") == []
    browser.cookies.set("erp_session", token)
    assert (await browser.get("/service")).headers["location"] == "/"


async def test_an_idle_session_ends_and_a_disabled_persons_sessions_stop_at_once(browser, people, api, database_url):
    await sign_in(browser, "Lucia")
    await _sql(database_url, "UPDATE person_session SET expires_at = now() - interval '1 second'")
    assert (await browser.get("/service")).headers["location"] == "/"
    await sign_in(browser, "Lucia")
    assert (await browser.get("/service")).status_code == 200
    await api.ok("patch", f"/people/{people['Lucia']['id']}", {"active": False})
    assert (await browser.get("/service")).headers["location"] == "/"
    assert (await sign_in(browser, "Lucia")).status_code == 401


async def test_a_rep_finds_an_order_by_number_or_email(browser, people, api):
    first = await given_order(api, "ana@example.com")
    body = order_body(("LAP-1", 1))
    body["customer"] = {"name": "Ana Ruiz", "email": "ana@example.com"}
    second = await api.as_("service").ok("post", "/orders", body)
    await sign_in(browser, "Lucia")
    by_number = await browser.get("/service", params={"q": first["number"].lower()})
    assert by_number.headers["location"] == f"/service/orders/{first['number']}"
    by_email = await browser.get("/service", params={"q": "ANA@example.com"})
    assert by_email.status_code == 200
    assert by_email.text.index(second["number"]) < by_email.text.index(first["number"])
    nothing = await browser.get("/service", params={"q": "nobody@example.com"})
    assert "No order has the number, email, phone, name or reference" in nothing.text
    missing = await browser.get("/service/orders/SO-999999")
    assert missing.status_code == 404 and "There is no order SO-999999." in missing.text


async def test_the_case_page_tells_the_promise_and_a_logged_contact_counts_once_however_often_it_is_sent(
        browser, people, api):
    order = await given_order(api)
    await sign_in(browser, "Lucia")
    case = await browser.get(f"/service/orders/{order['number']}")
    assert case.status_code == 200
    view = await api.ok("get", f"/orders/{order['number']}")
    assert view["status_text"] in case.text and view["lines"][0]["reason"] in case.text
    assert '<strong id="touches">0</strong>' in case.text
    data = {"csrf": _field(case.text, "csrf"), "form_token": _field(case.text, "form_token"), "channel": "phone",
            "direction": "inbound", "summary": "Asked when it arrives"}
    for _ in range(2):  # a double click
        logged = await browser.post(f"/service/orders/{order['number']}/contacts", data=data)
        assert (logged.status_code, logged.headers["location"]) == (303, f"/service/orders/{order['number']}#contacts")
    after = await browser.get(f"/service/orders/{order['number']}")
    assert '<strong id="touches">1</strong>' in after.text and "Asked when it arrives" in after.text
    contacts = (await api.ok("get", f"/orders/{order['number']}/contacts"))["items"]
    assert [(c["summary"], c["rep"]) for c in contacts] == [("Asked when it arrives", "Lucia")]
    empty = await browser.post(f"/service/orders/{order['number']}/contacts", data={
        **data, "form_token": _field(after.text, "form_token"), "summary": ""})
    assert empty.status_code == 422 and "Please fill in: summary" in empty.text


async def test_the_case_page_shows_shipments_returns_refunds_and_repairs(browser, people, api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 2))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective")))
    await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    await api.as_("service").ok("post", f"/returns/{ret['number']}/refunds",
                                {"amount": "49.90", "currency": "EUR", "method": "original_payment"})
    repair = await api.as_("service").ok("post", "/repairs", {
        "sku": "LAP-1", "order": order["number"], "customer": {"name": "Ana Ruiz", "email": "ana@example.com"},
        "problem": "fan rattles"})
    await sign_in(browser, "Lucia")
    case = await browser.get(f"/service/orders/{order['number']}")
    assert case.status_code == 200, case.text
    for shown in (f"T-{order['number']}", ret["number"], "Refunded 49.90 EUR (original payment)", repair["number"]):
        assert shown in case.text, shown


# (path, roles that may open it); any other signed-in role gets 403, nobody signed in goes to the sign-in form.
PAGES = [
    ("/home", {"admin", "service", "warehouse", "purchasing", "integration"}),
    ("/service", {"admin", "service"}),
    ("/service/orders/{order}", {"admin", "service"}),
    ("/dashboard", {"admin", "service"}),
    ("/warehouse", {"admin", "warehouse"}),
    ("/warehouse/receiving/purchase-orders", {"admin", "warehouse"}),
    ("/warehouse/receiving/returns", {"admin", "warehouse"}),
]


async def test_each_page_is_open_to_the_roles_it_is_for(app, api):
    order = await given_order(api)
    for role in ("admin", "service", "warehouse", "purchasing", "integration"):
        await api.ok("post", "/people", {"name": f"{role} person", "role": role, "password": PASSWORD})
    async with _browser(app) as anonymous:
        for path, _ in PAGES:
            assert (await anonymous.get(path.format(order=order["number"]))).headers["location"] == "/", path
    for role in ("admin", "service", "warehouse", "purchasing", "integration"):
        async with _browser(app) as browser:
            await sign_in(browser, f"{role} person")
            for path, allowed in PAGES:
                status = (await browser.get(path.format(order=order["number"]))).status_code
                assert status == (200 if role in allowed else 403), (role, path, status)


async def test_parallel_guesses_take_turns_so_no_more_than_five_are_checked(browser, people):
    form = await browser.get("/")
    data = {"csrf": _field(form.text, "csrf"), "name": "Lucia", "password": "guess"}
    answers = await asyncio.gather(*(browser.post("/sign-in", data=data) for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [401] * 5 + [429] * 5


async def test_signing_in_clears_ended_sessions_and_long_forgotten_failures(browser, people, database_url):
    await sign_in(browser, "Jon")
    browser.cookies.clear()
    await sign_in(browser, "Nobody", "guess")
    await _sql(database_url, "UPDATE person_session SET expires_at = now() - interval '1 second'")
    await _sql(database_url, "UPDATE sign_in_throttle SET last_failure_at = now() - interval '2 days'")
    await sign_in(browser, "Lucia")
    assert [row[0] for row in await _sql(database_url, "SELECT p.name FROM person_session s JOIN person p"
                                                        " ON p.id = s.person_id")] == ["Lucia"]
    assert await _sql(database_url, "SELECT * FROM sign_in_throttle") == []


async def test_a_rep_opens_a_return_of_shipped_units_once_and_more_than_shipped_is_refused(browser, people, api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 2))
    await sign_in(browser, "Lucia")
    case = await browser.get(f"/service/orders/{order['number']}")
    assert "Open a return" in case.text and 'name="return.LAP-1"' in case.text
    data = {"csrf": _field(case.text, "csrf"), "return_token": _field(case.text, "return_token"),
            "return.LAP-1": "1", "reason.LAP-1": "defective", "resolution": "replacement", "notes": "fan rattles"}
    for _ in range(2):  # a double click
        opened = await browser.post(f"/service/orders/{order['number']}/returns", data=data)
        assert (opened.status_code, opened.headers["location"]) == (303, f"/service/orders/{order['number']}#returns")
    (ret,) = (await api.ok("get", f"/returns?order={order['number']}"))["items"]
    assert (ret["resolution"], ret["status"]) == ("replacement", "authorized")
    after = await browser.get(f"/service/orders/{order['number']}")
    assert ret["number"] in after.text
    too_many = await browser.post(f"/service/orders/{order['number']}/returns", data={
        **data, "return_token": _field(after.text, "return_token"), "return.LAP-1": "2"})
    assert too_many.status_code == 409 and "at most 1 more can be returned, not 2" in too_many.text
    nothing = await browser.post(f"/service/orders/{order['number']}/returns", data={
        **data, "return_token": _field(after.text, "return_token"), "return.LAP-1": "0"})
    assert nothing.status_code == 422 and "Type how many units of a shipped line come back." in nothing.text
    assert len((await api.ok("get", f"/returns?order={order['number']}"))["items"]) == 1
