"""Every read refuses a query parameter it does not know (422, never silently ignored: a misspelt filter would
answer as if nothing were filtered), and only after who is asking is settled (no key: 401)."""

from fastapi.routing import iter_route_contexts

from erp.routing import TransactionalRoute


async def test_every_read_refuses_an_unknown_query_parameter_with_422(app, client, keys):
    reads = sorted({context.path_format for context in iter_route_contexts(app.routes)
                    if isinstance(context.original_route, TransactionalRoute) and "GET" in (context.methods or ())
                    and "{" not in context.path_format and context.path_format.startswith("/api/v1/")})
    assert "/api/v1/orders" in reads and "/api/v1/stock" in reads and len(reads) >= 15
    for path in reads:
        response = await client.get(path.removeprefix("/api/v1"), params={"colour": "red"},
                                    headers={"Authorization": f"Bearer {keys['admin']}"})
        assert response.status_code == 422, (path, response.status_code, response.text)
        problem = response.json()
        assert problem["code"] == "validation_error", path
        assert problem["errors"] == [{"field": "colour", "message": "unknown query parameter",
                                      "type": "extra_forbidden"}], path


async def test_an_unknown_query_parameter_without_a_key_is_401_first(client):
    response = await client.get("/stock", params={"colour": "red"})
    assert response.status_code == 401


async def test_a_read_with_a_known_parameter_and_a_templated_path_refuses_only_the_unknown(client, keys):
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    assert (await client.get("/warehouses", params={"limit": 5}, headers=headers)).status_code == 200
    response = await client.get("/availability/NOPE-1", params={"quantity": 1, "qty": 2}, headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "qty"
