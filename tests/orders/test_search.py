"""Finding orders (DOMAIN.md section 6): number, email, phone, name (partial), external reference, any case."""

from urllib.parse import quote

from tests.builders import given_product, given_stock, given_warehouse


async def place(api, name, email, phone=None, external_ref=None, channel="phone", quantity=1):
    body = {"customer": {"name": name, "email": email, **({"phone": phone} if phone else {})}, "channel": channel,
            "lines": [{"sku": "LAP-1", "quantity": quantity}]}
    if external_ref:
        body["external_ref"] = external_ref
    return (await api.as_("service").ok("post", "/orders", body))["number"]


async def given_customers(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 100)
    return {
        "ana": await place(api, "Ana Ruiz", "Ana@Example.com", "+34 600 000 000", "SHOP-1001"),
        "bob": await place(api, "Bob Anders", "bob@example.org", "(212) 555-0100", channel="web"),
        "zoe": await place(api, "Zoë Ruiz-Lopez", "zoe@example.net", external_ref="mkt-77", channel="api"),
    }


async def found(api, query, role="service"):
    page = await api.as_(role).ok("get", f"/orders?{query}")
    return [item["number"] for item in page["items"]]


async def test_an_order_is_found_by_its_number_in_any_case(api):
    numbers = await given_customers(api)
    assert await found(api, f"q={numbers['bob']}") == [numbers["bob"]]
    assert await found(api, f"q={numbers['bob'].lower()}") == [numbers["bob"]]


async def test_an_order_is_found_by_the_customers_email_in_any_case(api):
    numbers = await given_customers(api)
    assert await found(api, "q=ANA@example.COM") == [numbers["ana"]]
    assert await found(api, "q=ana@example") == []


async def test_an_order_is_found_by_phone_however_the_digits_are_spaced(api):
    numbers = await given_customers(api)
    assert await found(api, f"q={quote('+34600000000')}") == [numbers["ana"]]
    assert await found(api, f"q={quote('212-555-0100')}") == [numbers["bob"]]
    assert await found(api, "q=600") == []


async def test_a_phone_stored_with_its_country_code_is_found_by_the_national_number(api):
    numbers = await given_customers(api)
    assert await found(api, f"q={quote('600 000 000')}") == [numbers["ana"]]
    assert await found(api, "q=5550100") == [numbers["bob"]]
    assert await found(api, "q=550100") == []  # six digits: too few to stand for a phone's ending
    # An exact match wins: the endings are looked for only when nothing matched otherwise.
    other = await place(api, "Eva Mar", "eva@example.com", "600000000")
    assert await found(api, f"q={quote('600 000 000')}") == [other]


async def test_an_order_is_found_by_its_external_reference_in_any_case(api):
    numbers = await given_customers(api)
    assert await found(api, "q=shop-1001") == [numbers["ana"]]
    assert await found(api, "q=MKT-77") == [numbers["zoe"]]


async def test_a_name_is_found_by_the_beginning_of_any_of_its_words_in_any_case(api):
    numbers = await given_customers(api)
    assert await found(api, "q=ruiz") == [numbers["ana"], numbers["zoe"]]
    assert await found(api, "q=RU") == [numbers["ana"], numbers["zoe"]]
    assert await found(api, f"q={quote('ana ru')}") == [numbers["ana"]]
    assert await found(api, "q=an") == [numbers["ana"], numbers["bob"]]
    assert await found(api, f"q={quote('zoë')}") == [numbers["zoe"]]
    assert await found(api, "q=lopez") == [numbers["zoe"]]
    assert await found(api, "q=uiz") == []


async def test_q_combines_with_the_other_filters_and_pages(api):
    numbers = await given_customers(api)
    assert await found(api, "q=ruiz&channel=api") == [numbers["zoe"]]
    assert await found(api, "q=ruiz&status=cancelled") == []
    first = await api.as_("service").ok("get", "/orders?q=ruiz&limit=1")
    assert [i["number"] for i in first["items"]] == [numbers["ana"]]
    second = await api.as_("service").ok("get", f"/orders?q=ruiz&limit=1&cursor={first['next_cursor']}")
    assert [i["number"] for i in second["items"]] == [numbers["zoe"]] and second["next_cursor"] is None
    (item,) = (await api.as_("service").ok("get", "/orders?q=shop-1001"))["items"]
    assert (item["customer_phone"], item["external_ref"]) == ("+34 600 000 000", "SHOP-1001")


async def test_query_syntax_in_q_is_only_text(api):
    await given_customers(api)
    for hostile in ("'", "a & b", "!ana", "ana:*", "(", "' OR 1=1 --", "\\", "%", "_", "ana|bob"):
        response = await api.as_("service").get("/orders", params={"q": hostile})
        assert response.status_code == 200, (hostile, response.text)
    assert await found(api, "q=" + quote("!ana")) == await found(api, "q=ana")


async def test_an_unknown_filter_is_refused_not_ignored(api):
    await given_customers(api)
    response = await api.as_("service").get("/orders?customer_name=Ana")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"] == [{"field": "customer_name", "message": "unknown query parameter",
                                  "type": "extra_forbidden"}]


async def test_q_is_bounded(api):
    await given_customers(api)
    assert (await api.as_("service").get("/orders", params={"q": "x" * 201})).status_code == 422
    assert (await api.as_("service").get("/orders", params={"q": "x" * 200})).status_code == 200
    assert (await api.as_("service").get("/orders?q=")).status_code == 422
    assert (await api.as_("service").get("/orders?q=a%00b")).status_code == 422
