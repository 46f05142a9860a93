"""The OpenAPI document: what FastAPI infers, plus what it cannot, derived from the routes themselves.

Each operation declares the errors it really returns. Most follow from what the route is: a role check
(401, 403), a body (400, 413, 422), parameters (422), path parameters (404), a replayable POST (409 for its
Idempotency-Key), `If-Match` (412), the database (503). The domain errors a route's rules can raise beyond
those are declared on the route, once: `@router.post(..., responses=errors(NotFound, InsufficientStock))`.
Every problem answer names its possible `code`s; `Problem.code` is the enum of every code the service has.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from erp.auth import SECURITY_SCHEMES
from erp.errors import (
    PROBLEM_JSON,
    DomainError,
    Forbidden,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    Problem,
    Unauthenticated,
    VersionConflict,
    problem_catalogue,
)
from erp.idempotency import IDEMPOTENCY_KEY_PATTERN, policy_of
from erp.pagination import name_pages
from erp.routing import TransactionalRoute, _roles, shadowed

API_PREFIX = "/api/v1"
# Where a route's declared domain errors travel from `errors()` to the document (removed from the output).
CODES = "x-problem-codes"

TAGS = [
    {"name": "inventory", "description": "Products, warehouses and their locations, stock by location and "
                                         "warehouse, the ledger of moves, adjustments and transfers."},
    {"name": "availability", "description": "Available-to-promise: what can be promised, by when and why, "
                                            "without reserving."},
    {"name": "orders", "description": "Placing orders (reserved in the same transaction), holds that reserve "
                                      "before an order and expire, cancelling, picking by scan, packing by a "
                                      "second person, shipping, delivery, contacts, and the order's whole case "
                                      "for a rep."},
    {"name": "suppliers", "description": "Suppliers and their terms, purchase orders with dated lines, receiving "
                                         "and inspection, scorecards, replenishment."},
    {"name": "returns", "description": "Returns (RMA) with refunds, replacements and repairs; walk-in repairs "
                                       "and their parts."},
    {"name": "service", "description": "The service figures (DOMAIN.md section 6) for a period and channel, "
                                       "for the dashboard's charts."},
    {"name": "events", "description": "The outbox as a feed, for integrations that poll."},
    {"name": "webhooks", "description": "Subscriptions to the outbox: signed deliveries (Standard Webhooks), "
                                        "retried with backoff, replayable."},
    {"name": "admin", "description": "API keys (admin only)."},
    {"name": "people", "description": "Staff accounts with one role each, who sign in to the pages (admin only)."},
    {"name": "health", "description": "Liveness and readiness, without authentication."},
    {"name": "problems", "description": "What each problem `type` URI means."},
]

TITLES = {400: "Malformed request", 401: "Missing, unknown or revoked API key", 403: "The key's role may not do this",
          404: "Not found", 405: "Method not allowed", 409: "Conflict with the current state",
          412: "Version conflict", 413: "Request body over 1 MiB", 422: "Invalid request",
          503: "Database unavailable or busy; retry after Retry-After seconds"}
DATABASE_CODES = ("busy", "timeout", "database_unavailable")

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "The request's id: the caller's `X-Request-Id` (its first 64 characters) or a new one. "
                       "Every log line of the request and a problem's `instance` carry it.",
        "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 64}},
    "ETag": {
        "description": 'The resource\'s version, a strong entity tag like `"3"`: send it as `If-Match` to edit '
                       "exactly this version.",
        "required": True, "schema": {"type": "string", "pattern": '^"[0-9]+"$'}},
    "Location": {"description": "The new resource's path.", "required": True, "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the same "
                       "`Idempotency-Key` (nothing was done again); absent on a first answer.",
        "required": False, "schema": {"type": "string", "enum": ["true"]}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "WWW-Authenticate": {"description": "`Bearer`: send `Authorization: Bearer <api key>`.", "required": True,
                         "schema": {"type": "string"}},
    "Allow": {"description": "Every method the path serves.", "required": True, "schema": {"type": "string"}},
}


def errors(*kinds: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    """The domain errors a route's rules can raise, for its `responses=`: `responses=errors(NotFound)`."""
    declared: dict[int | str, dict[str, Any]] = {}
    for kind in kinds:
        entry = declared.setdefault(kind.status, {"description": TITLES.get(kind.status, kind.title), CODES: []})
        entry[CODES].append(kind.code)
    return declared


def sets_headers(status: int, *names: str) -> dict[int | str, dict[str, Any]]:
    """Response headers a route sets on success beyond those every answer has: `sets_headers(200, "ETag")`."""
    return {status: {"headers": {name: HEADERS[name] for name in names}}}


def _derived(context: RouteContext) -> dict[int, list[str]]:
    """The errors that follow from what the route is (see the module's docstring)."""
    found: dict[int, list[str]] = {}

    def add(*kinds: type[DomainError] | tuple[int, str]) -> None:
        for kind in kinds:
            status, code = kind if isinstance(kind, tuple) else (kind.status, kind.code)
            found.setdefault(status, [])
            if code not in found[status]:
                found[status].append(code)

    route: APIRoute = context.original_route  # type: ignore[assignment]
    path = context.path_format or ""
    api = path.startswith(API_PREFIX)
    method = next(iter(context.methods or ()))
    dependant = route.dependant
    if _roles(dependant) is not None:
        add(Unauthenticated, Forbidden)
    if route.body_field is not None:
        add((400, "malformed_json"), (413, "payload_too_large"), InvalidRequest)
    if api and (dependant.path_params or dependant.query_params or dependant.header_params):
        add(InvalidRequest)
    if dependant.path_params:
        add(NotFound)
    if method == "POST" and api:
        add(InvalidRequest)  # Idempotency-Key
        if not policy_of(route.endpoint).read_only:
            add(IdempotencyKeyReused, IdempotencyKeyInProgress)
    if any(p.alias.lower() == "if-match" for p in dependant.header_params):
        add(VersionConflict)
    if isinstance(route, TransactionalRoute):
        for code in DATABASE_CODES:
            add((503, code))
    if path == "/readyz":
        add((503, "database_unavailable"))
    return found


def _problem_response(status: int, codes: list[str], headers: dict[str, Any]) -> dict[str, Any]:
    listed = ", ".join(f"`{code}`" for code in codes)
    response = {"description": f"{TITLES.get(status, 'Error')}: {listed}.",
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                "headers": headers}
    if status == 503:
        response["headers"] = {**headers, "Retry-After": HEADERS["Retry-After"]}
    if status == 401:
        response["headers"] = {**headers, "WWW-Authenticate": HEADERS["WWW-Authenticate"]}
    if status == 405:
        response["headers"] = {**headers, "Allow": HEADERS["Allow"]}
    return response


def _not_null(parameter: dict[str, Any]) -> None:
    """An optional parameter is one left out: `null` is no value a query string or header can carry (a client
    sending `?status=null` would send the text "null"), so it is not among the parameter's values."""
    schema = parameter.get("schema", {})
    options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
    if len(options) == 1 and len(schema["anyOf"]) == 2:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        parameter["schema"] = {**options[0], **rest}


def _request_example(document: dict[str, Any], operation: dict[str, Any]) -> None:
    """The body's one example (the model's first `examples` entry) shown on the operation too."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return
    ref = content["schema"].get("$ref", "")
    schema = document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    if schema.get("examples"):
        content["example"] = schema["examples"][0]


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "1 to 255 printable ASCII characters, not starting or ending with a space (HTTP drops those). "
                   "A retry with the same key, method, path, query and body replays the first answer "
                   "(`Idempotent-Replayed: true`) and does nothing again; the same key with another request "
                   "is 409 `idempotency_key_reused`. Keys are per API key and expire after 24 hours by default.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": IDEMPOTENCY_KEY_PATTERN},
}


def document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                         tags=TAGS, servers=[{"url": "/", "description": "This server"}])
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in problem_schema.pop("$defs", {}).items():
        components[name] = definition
    problem_schema["properties"]["code"] = {
        "type": "string", "enum": sorted(problem_catalogue()), "title": "Code",
        "description": "Stable and machine-readable; `/problems/{code}` says what it means."}
    components["Problem"] = problem_schema

    contexts = [c for c in iter_route_contexts(app.routes)
                if isinstance(c.original_route, APIRoute) and c.original_route.include_in_schema]
    schema["components"]["securitySchemes"] = SECURITY_SCHEMES
    for context in contexts:
        route: APIRoute = context.original_route  # type: ignore[assignment]
        path = context.path_format or ""
        replayable = path.startswith(API_PREFIX) and not policy_of(route.endpoint).read_only
        for method in context.methods or ():
            operation = schema["paths"][path][method.lower()]
            if _roles(route.dependant) is not None:
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
            responses = operation["responses"]
            codes = _derived(context)
            for status, declared in route.responses.items():
                for code in declared.get(CODES, []) if isinstance(declared, dict) else []:
                    codes.setdefault(int(status), [])
                    if code not in codes[int(status)]:
                        codes[int(status)].append(code)
            if route.param_convertors and _can_be_shadowed(context, contexts):
                codes.setdefault(405, ["method_not_allowed"])
            request_id = {"X-Request-Id": HEADERS["X-Request-Id"]}
            responses.pop("422", None)  # FastAPI's own, naming the HTTPValidationError dropped above
            for status, response in list(responses.items()):
                response.pop(CODES, None)
                response["headers"] = {**request_id, **response.get("headers", {})}
                if status.startswith("2") and method == "POST" and replayable:
                    response["headers"]["Idempotent-Replayed"] = HEADERS["Idempotent-Replayed"]
            for status, listed in sorted(codes.items()):
                responses[str(status)] = _problem_response(status, listed, request_id)
            for parameter in operation.get("parameters", []):
                _not_null(parameter)
            if method == "POST" and path.startswith(API_PREFIX):
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
            _request_example(schema, operation)
    name_pages(schema)
    app.openapi_schema = schema
    return schema


def _can_be_shadowed(context: RouteContext, contexts: list[RouteContext]) -> bool:
    """Whether a concrete path of another route matches this templated one (`/availability/check` for
    `/availability/{sku}`): that path answers this method with 405."""
    return any(not other.param_convertors and context.path_regex.match(other.path_format or "")
               and shadowed(context, other.path_format or "", contexts) for other in contexts if other is not context)
