"""Routes that run in one transaction, committed before the response leaves, with idempotent POSTs."""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from erp.db import UnitOfWork
from erp.idempotency import HEADER, run_idempotent


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
            reading = request.method in ("GET", "HEAD")
            uow = UnitOfWork(request.app.state.read_sessionmaker if reading else request.app.state.sessionmaker)
            request.state.uow = uow
            try:
                key = request.headers.get(HEADER) if request.method == "POST" else None
                response = await (run_idempotent(request, uow, key, handler) if key is not None else handler(request))
                # Commit before returning: a failed COMMIT must reach the client as an error, not a 201.
                await uow.commit()
                return response
            finally:
                await uow.close()

        return run_in_transaction


def router(**kwargs: Any) -> APIRouter:
    return APIRouter(route_class=TransactionalRoute, **kwargs)
