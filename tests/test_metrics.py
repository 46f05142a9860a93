"""GET /metrics: Prometheus text with requests per route, the pool, the outbox lag, deliveries, holds."""

from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body


async def test_metrics_count_requests_by_route_and_show_the_pool_and_the_outbox_lag(client, api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    await api.ok("post", "/webhooks", {"url": "https://example.com/h", "event_types": ["order.placed"]})
    order = await api.ok("post", "/orders", order_body(("LAP-1", 1)))
    await api.ok("get", f"/orders/{order['number']}")
    response = await client.get("http://test/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert 'erp_requests_total{method="GET",route="/api/v1/orders/{number}",status="200"}' in body
    assert 'erp_request_seconds_bucket{le="0.002",method="POST",route="/api/v1/orders"}' in body
    for name in ("erp_pool_in_use", "erp_pool_waiting", "erp_outbox_lag_seconds", "erp_requests_in_flight"):
        assert f"\n{name} " in body, name
    # One delivery waits (no worker runs in the tests' app): the lag is its age.
    lag = float(next(line for line in body.splitlines() if line.startswith("erp_outbox_lag_seconds ")).split()[1])
    assert lag > 0


async def test_metrics_answer_the_machine_itself_only(app, client):
    import httpx

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as outsider:
        response = await outsider.get("/metrics")
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
