"""Roles (DOMAIN.md section 7), table-driven: every endpoint, each role allowed or refused."""

import re

import pytest

from erp.app import API_PREFIX, create_app
from erp.config import Settings
from erp.models import ROLES
from tests.builders import given_product, given_stock, given_warehouse
from tests.returns.builders import given_shipped_order

EVERYONE = set(ROLES)

# (method, path, body, roles allowed)
MATRIX = [
    ("get", "/products", None, EVERYONE),
    ("get", "/products/LAP-1", None, EVERYONE),
    ("post", "/products", {"sku": "NEW-{role}", "name": "n"}, {"admin"}),
    # Purchasing tunes replenishment parameters only; what the product is and whether it is sold is admin's.
    ("patch", "/products/LAP-1", {"reorder_point": 2, "reorder_max": 9}, {"admin", "purchasing"}),
    ("patch", "/products/LAP-1", {"name": "renamed"}, {"admin"}),
    ("patch", "/products/LAP-1", {"barcode": "B-{role}"}, {"admin"}),
    ("patch", "/products/LAP-1", {"active": True}, {"admin"}),
    ("patch", "/products/LAP-1", {"reorder_point": 1, "name": "renamed"}, {"admin"}),
    ("get", "/warehouses", None, EVERYONE),
    ("get", "/warehouses/MAD-1", None, EVERYONE),
    ("post", "/warehouses", {"code": "W-{role}", "name": "n"}, {"admin"}),
    ("get", "/warehouses/MAD-1/locations", None, EVERYONE),
    ("post", "/warehouses/MAD-1/locations", {"code": "L-{role}"}, {"admin"}),
    ("get", "/stock", None, EVERYONE),
    ("get", "/stock/LAP-1/locations", None, EVERYONE),
    ("get", "/stock/moves", None, EVERYONE),
    ("post", "/stock/adjustments", {"sku": "LAP-1", "location": "MAD-1/A-01", "quantity_delta": 1, "reason": "found"},
     {"admin", "warehouse"}),
    ("post", "/stock/transfers", {"sku": "LAP-1", "from_location": "MAD-1/A-01", "to_location": "MAD-1/A-02",
                                  "quantity": 1}, {"admin", "warehouse"}),
    ("get", "/availability/LAP-1?quantity=2", None, EVERYONE),
    ("post", "/availability/check", {"lines": [{"sku": "LAP-1", "quantity": 1}]}, EVERYONE),
    ("post", "/orders", {"customer": {"name": "c", "email": "c@x.example"}, "channel": "api",
                         "lines": [{"sku": "LAP-1", "quantity": 1}]}, {"admin", "service", "integration"}),
    ("get", "/orders", None, {"admin", "service", "warehouse", "integration"}),
    ("get", "/orders/SO-000001", None, {"admin", "service", "warehouse", "integration"}),
    ("get", "/orders/SO-000001/timeline", None, {"admin", "service", "warehouse", "integration"}),
    ("get", "/orders/SO-000001/contacts", None, {"admin", "service", "warehouse", "integration"}),
    ("post", "/orders/SO-000001/contacts", {"channel": "email", "direction": "outbound", "summary": "s"},
     {"admin", "service"}),
    ("post", "/orders/SO-000001/cancel", {"lines": [{"sku": "LAP-1", "quantity": 1}]}, {"admin", "service"}),
    ("post", "/pick-lists", {"warehouse": "MAD-1"}, {"admin", "warehouse"}),
    ("get", "/pick-lists", None, {"admin", "warehouse"}),
    ("get", "/pick-lists/1", None, {"admin", "warehouse"}),
    ("post", "/pick-lists/1/confirm", {"location": "MAD-1/A-01", "sku": "LAP-1", "quantity": 1},
     {"admin", "warehouse"}),
    ("post", "/orders/SO-000001/pack", {"items": [{"sku": "LAP-1", "quantity": 1}]}, {"admin", "warehouse"}),
    ("post", "/orders/SO-000001/shipments", {"carrier": "UPS", "tracking_number": "1"}, {"admin", "warehouse"}),
    ("post", "/orders/SO-000001/delivered", None, {"admin", "warehouse", "integration"}),
    ("get", "/events", None, {"admin", "service", "integration"}),
    ("get", "/metrics/service", None, {"admin", "service"}),
    ("post", "/suppliers", {"code": "S-{role}", "name": "s"}, {"admin", "purchasing"}),
    ("get", "/suppliers", None, {"admin", "purchasing"}),
    ("get", "/suppliers/ACME", None, {"admin", "purchasing"}),
    ("put", "/suppliers/ACME/products/LAP-1", {"supplier_sku": "A", "unit_cost": "1", "currency": "EUR"},
     {"admin", "purchasing"}),
    ("get", "/suppliers/ACME/scorecard", None, {"admin", "purchasing"}),
    ("post", "/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "LAP-1", "quantity": 1}]},
     {"admin", "purchasing"}),
    ("get", "/purchase-orders", None, {"admin", "purchasing", "warehouse"}),
    ("get", "/purchase-orders/PO-000001", None, {"admin", "purchasing", "warehouse"}),
    ("patch", "/purchase-orders/PO-000001/lines/1", {"expected_date": "2099-01-01"}, {"admin", "purchasing"}),
    ("post", "/purchase-orders/PO-000001/receipts", {"lines": [{"sku": "LAP-1", "quantity": 1}]},
     {"admin", "warehouse"}),
    ("get", "/inspections", None, {"admin", "purchasing", "warehouse"}),
    ("post", "/inspections/1", {"accepted": 1, "rejected": 0}, {"admin", "warehouse"}),
    ("post", "/purchase-orders/PO-000002/send", None, {"admin", "purchasing"}),
    ("post", "/purchase-orders/PO-000002/cancel", None, {"admin", "purchasing"}),
    ("post", "/purchase-orders/PO-000001/close", None, {"admin", "purchasing"}),
    ("get", "/replenishment/suggestions", None, {"admin", "purchasing"}),
    ("post", "/replenishment/suggestions/accept", {}, {"admin", "purchasing"}),
    ("post", "/returns", {"order": "SO-000002", "lines": [{"sku": "LAP-1", "quantity": 1, "reason": "defective"}],
                          "resolution": "refund"}, {"admin", "service"}),
    ("get", "/returns", None, {"admin", "service", "warehouse"}),
    ("get", "/returns/RMA-000001", None, {"admin", "service", "warehouse"}),
    ("post", "/returns/RMA-000001/receive", {"lines": [{"sku": "LAP-1", "quantity": 1}]}, {"admin", "warehouse"}),
    ("post", "/returns/RMA-000001/inspect", {"lines": [{"sku": "LAP-1", "restock": 1}]}, {"admin", "warehouse"}),
    ("post", "/returns/RMA-000001/refunds", {"amount": "1", "currency": "EUR", "method": "cash"},
     {"admin", "service"}),
    ("post", "/returns/RMA-000001/cancel", {"reason": "r"}, {"admin", "service"}),
    ("post", "/returns/RMA-000001/reject", {"reason": "r"}, {"admin", "service"}),
    ("post", "/repairs", {"sku": "LAP-1", "customer": {"name": "c", "email": "c@x.example"}, "problem": "p"},
     {"admin", "service"}),
    ("get", "/repairs", None, {"admin", "service", "warehouse"}),
    ("get", "/repairs/RO-000001", None, {"admin", "service", "warehouse"}),
    ("post", "/repairs/RO-000001/parts", {"sku": "LAP-1", "quantity": 1}, {"admin", "warehouse"}),
    ("delete", "/repairs/RO-000001/parts/LAP-1", None, {"admin", "warehouse"}),
    ("post", "/repairs/RO-000001/status", {"status": "in_progress"}, {"admin", "warehouse"}),
    ("post", "/repairs/RO-000001/outcome", {"outcome": "replacement"}, {"admin", "service"}),
    ("post", "/holds", {"lines": [{"sku": "LAP-1", "quantity": 1}]}, {"admin", "service", "integration"}),
    ("get", "/holds/{hold}", None, {"admin", "service", "integration"}),
    ("delete", "/holds/{hold}", None, {"admin", "service", "integration"}),
    ("post", "/webhooks", {"url": "https://example.com/{role}", "event_types": ["*"]}, {"admin"}),
    ("get", "/webhooks", None, {"admin"}),
    ("get", "/webhooks/1", None, {"admin"}),
    ("get", "/webhooks/1/deliveries", None, {"admin"}),
    ("post", "/webhooks/1/deliveries/1/redeliver", None, {"admin"}),
    ("delete", "/webhooks/1", None, {"admin"}),
    ("get", "/api-keys", None, {"admin"}),
    ("post", "/api-keys", {"name": "k-{role}", "role": "service"}, {"admin"}),
    ("delete", "/api-keys/999", None, {"admin"}),
    ("post", "/people", {"name": "Person {role}", "role": "service"}, {"admin"}),
    ("get", "/people", None, {"admin"}),
    ("patch", "/people/1", {"role": "warehouse"}, {"admin"}),
]


def _fill(body, role):
    if body is None:
        return None
    return {k: v.replace("{role}", role.upper()) if isinstance(v, str) else v for k, v in body.items()}


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX,
                         ids=[f"{m} {p} {sorted(b) if isinstance(b, dict) and m == 'patch' else ''}".strip()
                              for m, p, b, _ in MATRIX])
async def test_each_role_is_allowed_or_refused_as_the_domain_says(api, method, path, body, allowed):
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 50)
    await api.ok("post", "/orders", {"customer": {"name": "c", "email": "c@x.example"}, "channel": "web",
                                     "lines": [{"sku": "LAP-1", "quantity": 20}]})
    await api.ok("post", "/pick-lists", {"warehouse": "MAD-1"})
    await api.ok("post", "/suppliers", {"code": "ACME", "name": "Acme"})
    await api.ok("put", "/suppliers/ACME/products/LAP-1", {"supplier_sku": "A", "unit_cost": "1", "currency": "EUR"},
                 status=200)
    for _ in range(2):
        await api.ok("post", "/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1",
                                                  "lines": [{"sku": "LAP-1", "quantity": 50}]})
    await api.ok("post", "/purchase-orders/PO-000001/send", status=200)
    # A shipped order with a return and a walk-in repair, for the returns' rows.
    await given_shipped_order(api, ("LAP-1", 2))
    await api.ok("post", "/returns", {"order": "SO-000002", "resolution": "refund",
                                      "lines": [{"sku": "LAP-1", "quantity": 1, "reason": "defective"}]})
    await api.ok("post", "/repairs", {"sku": "LAP-1", "customer": {"name": "c", "email": "c@x.example"},
                                      "problem": "p"})
    hold = await api.ok("post", "/holds", {"lines": [{"sku": "LAP-1", "quantity": 1}]})
    await api.ok("post", "/webhooks", {"url": "https://example.com/h", "event_types": ["*"]})
    path = path.replace("{hold}", hold["id"])
    for role in ROLES:
        response = await getattr(api.as_(role), method)(path, **({"json": _fill(body, role)} if body else {}))
        if role in allowed:
            # Allowed means not refused; the call may still meet a state conflict (409) after another role's.
            assert response.status_code not in (401, 403) and response.status_code < 500, (
                f"{role} {method} {path}: {response.status_code} {response.text}")
        else:
            assert response.status_code == 403, f"{role} {method} {path}: {response.status_code}"
            assert response.json()["code"] == "forbidden"


def test_every_operation_has_its_roles_decided_in_the_matrix():
    """A new endpoint must come with a row above, saying who may call it."""
    covered = {(method, path) for method, path, _, _ in MATRIX}
    spec = create_app(Settings(access_log=False, log_level="WARNING")).openapi()
    missing = []
    for template, operations in spec["paths"].items():
        if not template.startswith(API_PREFIX):
            continue
        pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template[len(API_PREFIX):])) + "(\\?.*)?$")
        for method in operations:
            if not any(m == method and pattern.match(p) for m, p in covered):
                missing.append(f"{method.upper()} {template}")
    assert not missing, missing


async def test_purchasing_may_tune_replenishment_but_not_rename_or_deactivate_a_product(api):
    await given_product(api, "LAP-1", reorder_point=1, reorder_max=5)
    tuned = await api.as_("purchasing").ok("patch", "/products/LAP-1", {"reorder_point": 4, "reorder_max": 20})
    assert (tuned["reorder_point"], tuned["reorder_max"], tuned["name"]) == (4, 20, "Product LAP-1")
    for change in ({"name": "Cheaper laptop"}, {"active": False}, {"barcode": "999"}, {"barcode": None},
                   {"reorder_point": 5, "active": False}):
        refused = await api.as_("purchasing").patch("/products/LAP-1", change)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), change
        assert next(iter(change)) in refused.json()["detail"] or "active" in refused.json()["detail"]
    product = await api.ok("get", "/products/LAP-1")
    assert (product["name"], product["active"], product["reorder_point"], product["version"]) == (
        "Product LAP-1", True, 4, 2)
    assert (await api.ok("patch", "/products/LAP-1", {"active": False}))["active"] is False


async def test_missing_or_unknown_key_is_401_with_a_bearer_challenge(client):
    for headers in ({}, {"Authorization": "Bearer erp_nope"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = await client.get("/products", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_key_stops_working(api):
    created = await api.ok("post", "/api-keys", {"name": "temp", "role": "service"})
    assert created["key"].startswith("erp_")
    temp = api.as_("service")
    temp.keys = {**api.keys, "service": created["key"]}
    assert (await temp.get("/products")).status_code == 200
    revoked = await api.ok("delete", f"/api-keys/{created['id']}")
    assert revoked["revoked_at"] is not None
    assert (await temp.get("/products")).status_code == 401
    assert (await api.delete(f"/api-keys/{created['id']}")).status_code == 404


async def test_keys_are_listed_without_their_secret(api):
    page = await api.ok("get", "/api-keys")
    assert {k["role"] for k in page["items"]} == EVERYONE
    assert all("key" not in k and "key_hash" not in k for k in page["items"])
