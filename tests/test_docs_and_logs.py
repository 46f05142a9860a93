"""What integrators and operators read: the docs pages (served from here, no internet needed), the OpenAPI
document's names, the problem `type` pages, and logs that tie every line of a request to its id."""

import io
import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from erp import logging as erp_logging
from erp.app import create_app
from erp.errors import problem_catalogue
from erp.routing import router
from tests import conftest

SRC = Path(__file__).resolve().parents[1] / "src"


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_every_asset_from_this_server(client, page):
    response = await client.get(f"http://test{page}")
    assert response.status_code == 200
    parser = _Assets()
    parser.feed(response.text)
    urls = parser.urls + re.findall(r"""url:\s*['"]([^'"]+)['"]""", response.text)
    assert urls, "the page names no assets"
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        asset = await client.get(f"http://test{url}")
        assert asset.status_code == 200, url
    assert not re.search(r"https?://(?!test)", response.text.replace("http://www.w3.org", "")), response.text


def test_no_cdn_or_external_asset_url_anywhere_in_the_source():
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"cdn\.|cdnjs|jsdelivr|unpkg|googleapis|gstatic", text), path


def _document():
    return create_app(conftest.test_settings(), database_url="postgresql://nobody@127.0.0.1/unused").openapi()


def test_operation_ids_are_the_route_functions_names_unique_and_short():
    document = _document()
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z][a-z0-9_]{2,40}", operation_id), operation_id
        assert "api_v1" not in operation_id and not operation_id.endswith(("_get", "_post", "_patch", "_delete", "_put"))
    assert document["paths"]["/api/v1/products"]["get"]["operationId"] == "list_products"
    assert document["paths"]["/healthz"]["get"]["operationId"] == "healthz"


def test_every_schema_has_a_name_a_person_would_give_it():
    document = _document()
    for name in document["components"]["schemas"]:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]{1,40}", name), name
    for path in ("/healthz", "/readyz"):
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert set(schema) == {"$ref"}, (path, schema)  # a named model, not an inline one a client must name
    assert {"Health", "Readiness", "ProductOutPage"} <= set(document["components"]["schemas"])


async def _problems(api):
    """One problem of as many kinds as a client can provoke here."""
    answers = [
        await api.client.get("/products"),  # 401
        await api.as_("integration").post("/products", {"sku": "A", "name": "x"}),  # 403
        await api.get("/products/NOPE"),  # 404
        await api.get("/no-such-route"),  # 404 route
        await api.delete("/products"),  # 405
        await api.post("/products", {"sku": ""}),  # 422
        await api.post("/products", content=b"{", headers={"Content-Type": "application/json"}),  # 400
        await api.post("/products", content=b"x" * (1024 * 1024 + 1)),  # 413
    ]
    await api.ok("post", "/products", {"sku": "A-1", "name": "x"})
    answers.append(await api.post("/products", {"sku": "A-1", "name": "x"}))  # 409
    return answers


async def test_every_problem_type_resolves_to_a_page_served_here_and_names_the_request(api):
    for answer in await _problems(api):
        problem = answer.json()
        assert problem["type"] == f"/problems/{problem['code']}", problem
        assert problem["instance"] == f"urn:erp:request:{answer.headers['x-request-id']}"
        page = await api.client.get(f"http://test{problem['type']}")
        assert page.status_code == 200, problem["type"]
        assert page.headers["content-type"].startswith("text/html")
        assert problem["code"] in page.text


async def test_every_code_in_the_catalogue_has_a_page_and_an_unknown_one_is_404(client):
    for code, (title, _) in problem_catalogue().items():
        page = await client.get(f"http://test/problems/{code}")
        assert page.status_code == 200 and title in page.text, code
    missing = await client.get("http://test/problems/no_such_code")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


async def test_every_log_line_of_a_request_carries_its_id_and_a_millisecond_utc_timestamp(app, api):
    extra = router()

    @extra.get("/chatty")
    async def chatty() -> dict[str, str]:
        logging.getLogger("erp.test").warning("first")
        logging.getLogger("erp.test").warning("second")
        return {"status": "ok"}

    app.include_router(extra, prefix="/api/v1")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(erp_logging.JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        await api.get("/chatty", headers={"X-Request-ID": "req-42"})
        logging.getLogger("erp.test").warning("outside any request")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    inside = [line for line in lines if line["msg"] in ("first", "second")]
    assert [line["request_id"] for line in inside] == ["req-42", "req-42"]
    assert "request_id" not in next(line for line in lines if line["msg"] == "outside any request")
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"]), line["ts"]


def test_every_reference_in_the_openapi_document_resolves():
    """ReDoc refuses a document with one dangling `$ref` (it showed "Invalid reference token")."""
    document = _document()
    refs: list[str] = []

    def visit(node):
        if isinstance(node, dict):
            refs.extend([node["$ref"]] if isinstance(node.get("$ref"), str) else [])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(document)
    assert refs
    for ref in set(refs):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"], ref
