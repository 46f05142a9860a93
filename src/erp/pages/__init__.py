"""Server-rendered pages for people (DOMAIN.md section 8): routes that call the domains' services, Jinja2
templates, and static files served by this server (no asset from anywhere else). No rule lives here."""

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from erp.pages import web
from erp.pages.router import router
from erp.pages.warehouse import router as warehouse_router


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, web.PageError)
    person = getattr(request.state, "person", None)
    return web.render(request, "message.html", exc.status, person=person, title=exc.title, message=exc.message)


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    response = web.redirect("/")
    if web.SESSION_COOKIE in request.cookies:
        web.clear_session_cookie(response, request)
    return response


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(warehouse_router)
    app.mount("/static", StaticFiles(directory=web.HERE / "static"), name="static")
    app.add_exception_handler(web.PageError, _page_error)
    app.add_exception_handler(web.SignInRequired, _sign_in_required)
