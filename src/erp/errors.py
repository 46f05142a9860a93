"""The domain error hierarchy and its one mapping to RFC 9457 problem+json."""

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp.logging import current_request_id

log = logging.getLogger("erp.errors")

PROBLEM_JSON = "application/problem+json"
# A list of validation errors is capped (API.md "Limits"): a body of 100,000 unknown keys answers 50.
MAX_FIELD_ERRORS = 50


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document with a stable machine-readable `code`.

    `type` is `/problems/{code}`, a page this server serves; `instance` names the request (its
    `X-Request-Id`, which every log line of the request carries too)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None
    extra: dict[str, Any] | None = None


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    # True: the refusal is answered, and what the request recorded before refusing (an event saying what
    # was refused) is committed with it instead of rolled back; the route wrote nothing else.
    keeps_record: bool = False

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None,
                 errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.errors = errors  # the fields at fault, when a field is


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class AlreadyExists(DomainError):
    status, code, title = 409, "already_exists", "Already exists"


class InsufficientStock(DomainError):
    status, code, title = 409, "insufficient_stock", "Insufficient stock"


class InvalidTransition(DomainError):
    status, code, title = 409, "invalid_transition", "Invalid state transition"


class ScanMismatch(DomainError):
    status, code, title = 409, "scan_mismatch", "Scan does not match"


class PackMismatch(ScanMismatch):
    """Packing refused because the second person's scan differs from the picks: the mismatch is an event
    (`order.pack_mismatch`) that the service figures count, so it is kept."""

    keeps_record = True


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class IdempotencyKeyReused(DomainError):
    status, code, title = 409, "idempotency_key_reused", "Idempotency key reused"


class IdempotencyKeyInProgress(DomainError):
    status, code, title = 409, "idempotency_key_in_progress", "Request with this key still running"


class VersionConflict(DomainError):
    status, code, title = 412, "version_conflict", "Version conflict"


class InvalidRequest(DomainError):
    status, code, title = 422, "validation_error", "Invalid request"


class Unauthenticated(DomainError):
    status, code, title = 401, "unauthenticated", "Unauthenticated"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class ServiceUnavailable(DomainError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


HTTP_CODES = {
    400: ("malformed_json", "Malformed JSON"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}

# Codes answered outside the DomainError classes, with what they mean (the /problems/{code} pages).
OTHER_PROBLEMS: dict[str, tuple[str, str]] = {
    "malformed_json": ("Malformed JSON", "The request body is not JSON (or not UTF-8). Nothing was done."),
    "method_not_allowed": ("Method not allowed", "The path exists but does not serve this method; `Allow` lists those it serves."),
    "payload_too_large": ("Payload too large", "The request body is over 1 MiB. It was not read; nothing was done."),
    "unsupported_media_type": ("Unsupported media type", "Send JSON with `Content-Type: application/json`."),
    "http_error": ("HTTP error", "The request could not be served as sent."),
    "busy": ("Busy, try again", "The data is locked by other work or no database connection became free in time; "
             "retry after `Retry-After` seconds."),
    "timeout": ("Timed out", "The request took too long and was cancelled; nothing was done. Retry."),
    "database_unavailable": ("Database unavailable", "The database is not reachable right now; retry after "
                             "`Retry-After` seconds."),
    "internal_error": ("Internal error", "A bug: the request failed in a way nobody foresaw. It is logged with the "
                       "request id given as `instance`."),
    "request_timeout": ("Request timeout", "The request (its head or its body) did not arrive in time."),
    "headers_too_large": ("Request header fields too large", "The request line and headers are over 64 KiB."),
}
DESCRIPTIONS = {
    "not_found": "No such resource, or no such route.",
    "already_exists": "A resource with this business key exists already.",
    "insufficient_stock": "Not enough available stock for the operation; nothing was changed.",
    "invalid_transition": "The resource's current state does not allow this; `detail` names the state.",
    "scan_mismatch": "What was scanned does not match what was expected; nothing was changed.",
    "conflict": "The request conflicts with stored data.",
    "idempotency_key_reused": "This Idempotency-Key was used before with another request (method, path, query or body).",
    "idempotency_key_in_progress": "The first request with this Idempotency-Key is still running; retry shortly.",
    "version_conflict": "`If-Match` names another version than the current one; read the resource again.",
    "validation_error": "The request is invalid; `errors` lists each bad field (at most 50).",
    "unauthenticated": "No API key, or an unknown or revoked one: send `Authorization: Bearer <key>`.",
    "forbidden": "The key's role may not do this (DOMAIN.md section 7).",
    "service_unavailable": "The service cannot answer now; retry.",
}


def problem_type(code: str) -> str:
    return f"/problems/{code}"


def request_instance() -> str | None:
    request_id = current_request_id()
    return f"urn:erp:request:{quote(request_id, safe='-._~')}" if request_id else None


def problem_catalogue() -> dict[str, tuple[str, str]]:
    """Every problem code this service answers: (title, what it means)."""
    catalogue = dict(OTHER_PROBLEMS)
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        kind = pending.pop()
        pending += kind.__subclasses__()
        if kind is not DomainError:
            catalogue.setdefault(kind.code, (kind.title, DESCRIPTIONS.get(kind.code, kind.__doc__ or kind.title)))
    return catalogue


# Constraint names (see models' naming convention) that mean "not enough stock" when violated.
STOCK_CONSTRAINTS = ("ck_location_balance_", "ck_stock_level_")


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=problem_type(code),
        instance=request_instance(),
        title=title,
        status=status,
        detail=detail,
        code=code,
        errors=errors,
        extra=extra,
    )
    if status == 500:
        # Whatever failed may have left the request half read: say the connection ends with this answer,
        # rather than have the server drop it unannounced.
        headers = {**(headers or {}), "Connection": "close"}
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "request")


async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
    return domain_problem(exc)


def domain_problem(exc: DomainError) -> JSONResponse:
    """The one mapping of a domain error to its problem+json answer."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 503:
        headers = {"Retry-After": "1"}
    return problem(exc.status, exc.code, exc.title, exc.detail, errors=exc.errors, extra=exc.extra, headers=headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "malformed_json", "Malformed JSON", "The request body is not valid JSON.")
    fields = [
        FieldError(field=_field_name(tuple(e.get("loc", ()))), message=str(e.get("msg", "")), type=e["type"])
        for e in errors[:MAX_FIELD_ERRORS]
    ]
    detail = "; ".join(f"{f.field}: {f.message}" for f in fields)[:1000]
    extra = None
    if len(errors) > MAX_FIELD_ERRORS:
        omitted = len(errors) - MAX_FIELD_ERRORS
        detail = f"{len(errors)} errors, the first {MAX_FIELD_ERRORS} listed ({omitted} more not shown): {detail}"
        extra = {"errors_total": len(errors), "errors_omitted": omitted}
    return problem(422, "validation_error", "Invalid request", detail, errors=fields, extra=extra)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    code, title = HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route {request.method} {request.url.path}."
    if exc.status_code == 405:
        from erp.routing import allowed_methods  # routing builds on this module

        allow = allowed_methods(request.app, request.scope["path"])
        headers = {**(headers or {}), "Allow": ", ".join(allow)}
        detail = f"{request.method} is not allowed here; allowed: {', '.join(allow)}."
    return problem(exc.status_code, code, title, detail, headers=headers)


def sqlstate(exc: DBAPIError) -> str:
    orig = exc.orig
    return str(getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", "") or "")


def _constraint(exc: DBAPIError) -> str:
    cause = getattr(exc.orig, "__cause__", None)
    return str(getattr(cause, "constraint_name", "") or "")


def database_unreachable(exc: BaseException) -> bool:
    """The database is down, restarting or out of reach (not a refusal of what was asked): retry later.
    Class 08 (connection exception), 53 (insufficient resources: too many connections, out of memory) and
    57P (the server is shutting down, crashed or still starting up)."""
    if isinstance(exc, (OSError, PoolTimeout)):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    state = sqlstate(exc)
    return (isinstance(exc, OperationalError) or exc.connection_invalidated or not state
            or state.startswith(("08", "53", "57P")))


async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
    state = sqlstate(exc)
    if isinstance(exc, IntegrityError) or state.startswith("23"):
        constraint = _constraint(exc)
        if constraint.startswith(STOCK_CONSTRAINTS):
            return problem(409, "insufficient_stock", "Insufficient stock",
                           f"Not enough stock for this operation ({constraint}).")
        if state == "23505":
            return problem(409, "already_exists", "Already exists", f"A record with this key already exists ({constraint}).")
        return problem(409, "conflict", "Conflict", f"The request conflicts with stored data ({constraint or state}).")
    if state.startswith("22"):
        return problem(422, "validation_error", "Invalid request", "A value is out of range or not representable.")
    if state in ("55P03", "40001", "40P01"):
        log.warning("database busy: sqlstate %s on %s %s: %s", state, request.method, request.url.path, exc.orig)
        return problem(503, "busy", "Busy, try again", "The data is busy; retry the request.", headers={"Retry-After": "1"})
    if state == "57014":
        return problem(503, "timeout", "Timed out", "The request took too long and was cancelled.", headers={"Retry-After": "1"})
    if database_unreachable(exc):  # the request may simply be retried
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return problem(503, "database_unavailable", "Database unavailable", "The database is not reachable; retry shortly.",
                       headers={"Retry-After": "1"})
    log.exception("database error", exc_info=exc)
    return problem(500, "internal_error", "Internal error", "An unexpected error occurred.")


async def _pool_timeout(request: Request, exc: PoolTimeout) -> JSONResponse:
    return problem(503, "busy", "Busy, try again", "No database connection became free in time.",
                   headers={"Retry-After": "1"})


async def _connection_error(request: Request, exc: Exception) -> JSONResponse:
    return problem(503, "database_unavailable", "Database unavailable", "The database is not reachable; retry shortly.",
                   headers={"Retry-After": "1"})


class CatchAll:
    """Pure ASGI middleware: any exception no handler mapped becomes a 500 problem with `Connection: close`.

    Starlette's own last-resort handler re-raises after answering, and the server then drops the connection
    without having said so; this one answers, logs, and ends the request there."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.exception("unhandled error", exc_info=exc)
            if started:  # half an answer is out: only dropping the connection can tell the client
                raise
            response = problem(500, "internal_error", "Internal error", "An unexpected error occurred.")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _pool_timeout)
    app.add_exception_handler(ConnectionError, _connection_error)
    app.add_exception_handler(OSError, _connection_error)
    app.add_middleware(CatchAll)
