"""Methods per path: every 405 lists in `Allow` every method the path serves, and a concrete path is
never taken for a templated one (OpenAPI: concrete paths are matched before templated ones)."""

import re

import pytest

from erp.app import create_app
from tests import conftest
from tests.builders import given_product, given_stock, given_warehouse

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _documented() -> dict[str, set[str]]:
    document = create_app(conftest.test_settings(), database_url="postgresql://nobody@127.0.0.1/unused").openapi()
    return {path: {m.upper() for m in operations} for path, operations in document["paths"].items()}


DOCUMENTED = _documented()


def concrete(path: str) -> str:
    """The path with each parameter filled in by a value no concrete path uses."""
    return re.sub(r"\{[^}]+\}", "x1", path)


@pytest.mark.parametrize("path", sorted(DOCUMENTED))
async def test_every_undocumented_method_is_405_listing_every_method_of_the_path(client, keys, path):
    allowed = DOCUMENTED[path]
    for method in sorted(METHODS - allowed):
        response = await client.request(method, "http://test" + concrete(path),
                                        headers={"Authorization": f"Bearer {keys['admin']}"})
        assert response.status_code == 405, (method, path, response.status_code)
        assert set(response.headers["allow"].split(", ")) == allowed, (method, path, response.headers["allow"])
        assert response.json()["code"] == "method_not_allowed"


async def test_options_on_products_lists_get_and_post(client):
    response = await client.options("/products")
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_the_availability_check_is_not_read_as_a_sku(api, method):
    response = await api.client.request(method, "/availability/check",
                                        headers={"Authorization": f"Bearer {api.keys['admin']}"})
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"


async def test_a_templated_path_still_serves_every_other_value(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "checks")
    await given_stock(api, "checks", "MAD-1/A-01", 2)
    response = await api.get("/availability/checks")
    assert response.status_code == 200, response.text
    assert response.json()["sku"] == "checks"
