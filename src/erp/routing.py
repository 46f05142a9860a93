"""Routes that run in one transaction, committed before the response leaves, with idempotent POSTs."""

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException
from starlette.routing import Match

from erp import idempotency
from erp.auth import authorize, required_roles
from erp.db import UnitOfWork
from erp.errors import DomainError, FieldError, InvalidRequest, domain_problem
from erp.standby import Standby, failed_on_standby

log = logging.getLogger("erp.routing")


def _routes(app: Any) -> list[RouteContext]:
    """Every route of the app with its full path, cached until the app's routes change."""
    routes = app.router.routes
    cached = getattr(app.state, "_route_contexts", None)
    if cached is None or cached[0] is not routes or cached[1] != len(routes):
        cached = (routes, len(routes), [c for c in iter_route_contexts(routes) if c.methods])
        app.state._route_contexts = cached
    return cached[2]


def _parameters(route: Any) -> int:
    return len(getattr(route, "param_convertors", None) or {})


def shadowed(route: Any, path: str, routes: list[RouteContext]) -> bool:
    """Whether `path` belongs to a more concrete route than templated `route` (OpenAPI: concrete paths are
    matched before templated ones). `/availability/check` is not `/availability/{sku}` with sku=check."""
    return any(other.path_regex.match(path) for other in more_concrete(route, routes, path.count("/")))


def more_concrete(route: Any, routes: list[RouteContext], segments: int) -> list[RouteContext]:
    """The routes that could take a path of `segments` slashes from templated `route`: fewer parameters and
    as many segments (a parameter never spans a slash: no route has a `:path` convertor)."""
    parameters = _parameters(route)
    if not parameters:
        return []
    return [other for other in routes
            if _parameters(other) < parameters and (other.path_format or "").count("/") == segments]


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method some route serves at `path` (the router stops at the first route whose path matches,
    so a plain 405 names that one route's methods only)."""
    routes = _routes(app)
    methods: set[str] = set()
    for route in routes:
        if route.path_regex.match(path) and not shadowed(route, path, routes):
            methods |= route.methods
    return sorted(methods)


def _query_parameters(dependant: Dependant) -> frozenset[str]:
    names = {p.alias for p in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_parameters(dependency)
    return frozenset(names)


def refuse_unknown_parameters(request: Request, known: frozenset[str]) -> None:
    """A read's query parameters are its filters and options; one it does not know is 422, never ignored
    (API.md), so a misspelt filter cannot answer every order as if nothing were filtered."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidRequest(
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)[:200]}.",
            errors=[FieldError(field=name[:100], message="unknown query parameter", type="extra_forbidden")
                    for name in unknown[:50]])


def _roles(dependant: Dependant) -> tuple[str, ...] | None:
    """The roles the route's `allow(...)` dependency admits, wherever it sits in the dependency tree."""
    for dependency in dependant.dependencies:
        roles = required_roles(dependency.call)
        if roles is None:
            roles = _roles(dependency)
        if roles is not None:
            return roles
    return None


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        answer = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await answer(request)
            except DomainError as exc:
                if not exc.keeps_record:
                    raise
                # Answered here, not by the exception handler, so the transaction commits what the refusal
                # recorded (and an Idempotency-Key stores the refusal, replayed without recording it twice).
                return domain_problem(exc)

        roles = _roles(self.dependant)
        policy = idempotency.policy_of(self.endpoint)
        known = _query_parameters(self.dependant)

        competitors: list[RouteContext] | None = None  # more_concrete(self), once the app's routes are known

        async def run_in_transaction(request: Request) -> Response:
            nonlocal competitors
            path = request.scope["path"]
            if competitors is None:
                competitors = more_concrete(self, _routes(request.app), path.count("/"))
            if any(other.path_regex.match(path) for other in competitors):
                # The router took a concrete path for this templated one: that path does not serve this method.
                raise HTTPException(405)
            state = request.app.state
            if request.method in ("GET", "HEAD") or policy.read_only:
                if request.scope["query_string"]:
                    if roles is not None:  # who is asking comes first: no key is 401, not a 422
                        await authorize(request, roles)
                    refuse_unknown_parameters(request, known)
                return await read(request, state.read_sessionmaker, state.standby)
            key = request.headers.get(idempotency.HEADER) if request.method == "POST" else None
            uow = UnitOfWork(state.sessionmaker, autocommit=None if key else state.autocommit_sessionmaker)
            if key is not None:
                # Who is asking is settled before anything stored is looked at: a revoked key is 401
                # and a role that may not call the route is 403, never a replay.
                if roles is not None:
                    await authorize(request, roles)
                response = await run(request, uow, lambda request: idempotency.run_idempotent(
                    request, uow, key, handler, policy))
            else:
                response = await run(request, uow, handler)
            principal = getattr(request.state, "principal", None)
            if state.standby is not None and principal is not None and response.status_code < 400:
                try:
                    await state.standby.record_write(principal.key_id)
                except Exception as exc:  # the write is committed: answer it; a read may then be stale
                    log.warning("write position not recorded: %s", type(exc).__name__)
            return response

        async def read(request: Request, primary: async_sessionmaker[AsyncSession], standby: Standby | None) -> Response:
            key = request.headers.get(idempotency.HEADER) if request.method == "POST" else None
            if key is not None:
                idempotency.validate_key(key)  # accepted, and nothing to keep: the route changes nothing
            if standby is not None:
                # The caller is known before choosing: a standby answers it only once it has its writes.
                principal = await authorize(request, roles) if roles is not None else None
                sessions = await standby.sessions_for(principal.key_id if principal else None)
                if sessions is not None:
                    try:
                        return await run(request, UnitOfWork(sessions), handler)
                    except Exception as exc:
                        if not failed_on_standby(exc):
                            raise
                        log.warning("read moved to the primary: the standby failed (%s)", type(exc).__name__)
                        standby.mark_down()
            return await run(request, UnitOfWork(primary), handler)

        return run_in_transaction


async def run(request: Request, uow: UnitOfWork, handler: Callable[[Request], Awaitable[Response]]) -> Response:
    request.state.uow = uow
    try:
        response = await handler(request)
        # Commit before returning: a failed COMMIT must reach the client as an error, not a 201.
        await uow.commit()
        return response
    finally:
        await uow.close()


class DomainRouter(APIRouter):
    """A domain's routes. FastAPI tries each included router in turn, and asks the router it picks to match
    the request twice (once to pick it, once to dispatch, each time through several calls per route). So a
    router answers the first question itself, at the cost of a regex per route: none of its paths can match
    (their first segment is not in the request's: at once), or a route matches path and method (FULL);
    anything else (a 405 in the making, HEAD) is FastAPI's own answer."""

    prefix_in_app: str | None = None  # known when included by include_in(); else FastAPI matches on its own

    def include_in(self, app: Any, prefix: str) -> None:
        self.prefix_in_app = prefix
        app.include_router(self, prefix=prefix)

    def matches(self, scope: Any) -> Any:
        segments = self._first_segments()
        if segments is not None and segments.isdisjoint(scope["path"].split("/")):
            return Match.NONE, {}
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if self.prefix_in_app is None or scope["type"] != "http" or not path.startswith(self.prefix_in_app):
            return super().matches(scope)
        path, method = path[len(self.prefix_in_app):], scope["method"]
        for route in self.routes:
            if route.path_regex.match(path):  # type: ignore[attr-defined]
                if method in route.methods:  # type: ignore[attr-defined]
                    return Match.FULL, {}
                return super().matches(scope)
        return Match.NONE, {}

    def _first_segments(self) -> frozenset[str] | None:
        """The literal first segment of every route's path; None when one starts with a parameter."""
        cached = getattr(self, "_segments_of", None)
        if cached is None or cached[0] != len(self.routes):
            firsts = [getattr(route, "path", "/{").split("/")[1] for route in self.routes]
            cached = (len(self.routes), None if any(first.startswith("{") or not first for first in firsts)
                      else frozenset(firsts))
            self._segments_of = cached
        return cached[1]


def router(**kwargs: Any) -> DomainRouter:
    return DomainRouter(route_class=TransactionalRoute, **kwargs)
