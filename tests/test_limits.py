"""Limits (API.md): bodies over 1 MiB are 413 before anything reads them, and error lists are capped."""

import asyncio
import json

import pytest

from erp.errors import MAX_FIELD_ERRORS
from erp.limits import MAX_BODY_BYTES, BodyLimit

PATHS = ["/products", "/orders", "/stock/adjustments", "/api-keys", "/availability/check", "/purchase-orders",
         "/products/LAP-1", "/no-such-route"]


def chunks(body: bytes, size: int = 64 * 1024):
    """A body sent chunked: no Content-Length for the server to trust."""

    async def stream():
        for start in range(0, len(body), size):
            yield body[start:start + size]

    return stream()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("caller", ["admin", "no key", "unknown key"])
async def test_a_body_over_1_mib_is_413_before_auth_and_before_parsing(client, keys, path, framing, caller):
    body = b"{" + b" " * MAX_BODY_BYTES + b"nope"  # not even JSON: nobody may have parsed it
    headers = {"Content-Type": "application/json"}
    if caller != "no key":
        headers["Authorization"] = f"Bearer {keys['admin'] if caller == 'admin' else 'erp_unknown'}"
    content = chunks(body) if framing == "chunked" else body
    for method in ("post", "patch", "put"):
        response = await client.request(method, path, content=content, headers=headers)
        assert response.status_code == 413, (method, response.status_code, response.text[:200])
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "payload_too_large"
        assert response.headers["connection"] == "close"
        content = chunks(body) if framing == "chunked" else body


async def test_a_declared_length_over_1_mib_is_refused_without_reading_the_body(client):
    async def never():
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    response = await client.post("/products", content=never(),
                                 headers={"Content-Length": str(MAX_BODY_BYTES + 1), "Content-Type": "application/json"})
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_of_exactly_1_mib_is_read_and_judged_on_its_content(api, framing):
    name = "x" * (MAX_BODY_BYTES - len(b'{"sku":"A-1","name":""}'))
    body = json.dumps({"sku": "A-1", "name": name}, separators=(",", ":")).encode()
    assert len(body) == MAX_BODY_BYTES
    response = await api.post("/products", content=chunks(body) if framing == "chunked" else body,
                              headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")  # the name is too long
    assert response.json()["errors"][0]["field"] == "name"


async def test_a_long_list_of_validation_errors_is_capped_and_says_how_many_more(api):
    lines = [{"sku": f"S-{i}", "quantity": "x", "unknown": 1} for i in range(500)]  # 1000 errors
    for path, body in (("/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1", "lines": lines}),
                       ("/availability/check", {"lines": lines})):
        problem = (await api.post(path, body)).json()
        assert problem["code"] == "validation_error"
        assert len(problem["errors"]) == MAX_FIELD_ERRORS
        assert problem["extra"] == {"errors_total": 1000, "errors_omitted": 1000 - MAX_FIELD_ERRORS}
        assert problem["detail"].startswith(f"1000 errors, the first {MAX_FIELD_ERRORS} listed")


@pytest.mark.parametrize("path", ["/products", "/orders", "/stock/adjustments", "/api-keys"])
async def test_a_flood_of_unknown_keys_is_one_error_not_one_per_key(api, path):
    """100,000 unknown keys in 1 MiB: one error (computing 100,000 of them held the event loop for 0.6 s)."""
    body = {f"{i:x}": 1 for i in range(100_000)}
    encoded = json.dumps(body, separators=(",", ":")).encode()
    assert len(encoded) <= MAX_BODY_BYTES
    response = await api.post(path, content=encoded, headers={"Content-Type": "application/json"})
    problem = response.json()
    assert (response.status_code, problem["code"]) == (422, "validation_error")
    assert [e["type"] for e in problem["errors"]] == ["too_many_fields"]
    assert "100000 fields given" in problem["errors"][0]["message"]
    assert len(response.content) < 2000


async def test_a_few_unknown_fields_are_still_named_one_by_one(api):
    response = await api.post("/products", {"sku": "A-1", "name": "x", "colour": "red", "size": "L"})
    assert {e["field"] for e in response.json()["errors"]} == {"colour", "size"}


async def test_a_body_that_trickles_in_too_slowly_is_408_and_the_application_never_runs():
    reached = []

    async def application(scope, receive, send):
        reached.append(scope["path"])

    messages = [{"type": "http.request", "body": b'{"sku": ', "more_body": True}]

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # the rest never comes (cancelled by the deadline)

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/products", "headers": [(b"content-length", b"100")]}
    await BodyLimit(application, read_timeout=0.2)(scope, receive, send)
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["code"] == "request_timeout"
    assert reached == []
