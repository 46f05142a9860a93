"""The pages (API.md "Pages"): sign in, each role's home, the rep's console and an order's case page."""

from datetime import date
from typing import get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from erp.db import SessionDep
from erp.errors import DomainError, NotFound
from erp.orders import contacts
from erp.orders.router import OrderNumber
from erp.orders.schemas import Channel, ContactCreate
from erp.pages import dashboard, search, web
from erp.pages.web import Form, Person, Rep
from erp.people import sessions
from erp.people.sessions import SignedIn
from erp.returns import service as returns
from erp.returns.schemas import Reason, Resolution, ReturnCreate
from erp.service.view import order_case

router = APIRouter(route_class=web.PageRoute, include_in_schema=False)
router.include_router(dashboard.router)

CHANNELS = get_args(Channel)
DIRECTIONS = ("inbound", "outbound")
REASONS = get_args(Reason)
RESOLUTIONS = get_args(Resolution)


def _sign_in_form(request: Request, status: int = 200, error: str | None = None, name: str = "") -> Response:
    token = request.cookies.get(web.SIGN_IN_COOKIE) or web.new_form_token()
    response = web.render(request, "sign_in.html", status, title="Sign in", csrf=token, error=error, name=name)
    response.set_cookie(web.SIGN_IN_COOKIE, token, path="/", httponly=True, samesite="strict",
                        secure=web.secure(request))
    return response


@router.get("/")
async def sign_in_page(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(web.SESSION_COOKIE)
    person = await sessions.signed_in(session, token) if token else None
    if person is not None:
        return web.redirect(web.home_of(person.role))
    return _sign_in_form(request)


@router.post("/sign-in")
async def sign_in(request: Request, session: SessionDep) -> Response:
    fields = await web.form_fields(request)
    # A name never starts or ends with a space (people.schemas.PersonName): one typed by mistake is dropped.
    name, password = fields.get("name", "").strip(), fields.get("password", "")
    if not web.same_token(fields.get("csrf"), request.cookies.get(web.SIGN_IN_COOKIE)):
        return _sign_in_form(request, 403, "The form had expired; please sign in again.", name)
    try:
        person, token = await sessions.sign_in(session, name, password)
    except sessions.TooManyAttempts as refused:
        response = _sign_in_form(request, 429, refused.detail, name)
        response.headers["Retry-After"] = str(refused.wait_seconds)
        return response
    except sessions.WrongNameOrPassword:
        # Answered, not raised: the failure is counted in this transaction, which must commit.
        return _sign_in_form(request, 401, "Wrong name or password.", name)
    response = web.redirect(web.home_of(person.role))
    web.set_session_cookie(response, request, token)
    response.delete_cookie(web.SIGN_IN_COOKIE, path="/")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: SessionDep, person: Person, form: Form) -> Response:
    await sessions.sign_out(session, request.cookies.get(web.SESSION_COOKIE, ""))
    response = web.redirect("/")
    web.clear_session_cookie(response, request)
    return response


@router.get("/home")
async def home(request: Request, person: Person) -> HTMLResponse:
    return web.render(request, "home.html", person=person, title="Home", opens=web.OPENS.get(person.role, []))


@router.get("/service")
async def console(request: Request, session: SessionDep, person: Rep, q: str = "") -> Response:
    query = q.strip()[:254]
    found = await search.find_orders(session, query) if query else []
    if query and len(found) == 1:
        return web.redirect(f"/service/orders/{found[0].number}")
    attention = [] if query else await search.needing_attention(
        session, request.app.state.settings.touch_threshold, date.today())
    return web.render(request, "service.html", person=person, title="Rep's console", query=query, found=found,
                      attention=attention)


async def _case_page(request: Request, session: SessionDep, person: SignedIn, number: str, status: int = 200,
                     error: str | None = None, form: dict[str, str] | None = None,
                     return_error: str | None = None) -> Response:
    try:
        case = await order_case(session, number, request.app.state.settings.touch_threshold)
    except NotFound:
        raise web.PageError(404, "No such order", f"There is no order {number}.") from None
    logged = await contacts.contacts_of(session, number)
    return web.render(request, "case.html", status, person=person, title=case.number, case=case, contacts=logged,
                      channels=CHANNELS, directions=DIRECTIONS, error=error, form=form or {},
                      form_token=web.new_form_token(), reasons=REASONS, resolutions=RESOLUTIONS,
                      return_error=return_error, return_token=web.new_form_token())


@router.get("/service/orders/{number}")
async def case_page(request: Request, session: SessionDep, person: Rep, number: OrderNumber) -> Response:
    return await _case_page(request, session, person, number)


@router.post("/service/orders/{number}/contacts")
async def log_contact(request: Request, session: SessionDep, person: Rep, form: Form, number: OrderNumber) -> Response:
    try:
        data = ContactCreate.model_validate({name: form.get(name) for name in ("channel", "direction", "summary")})
    except ValidationError as invalid:
        fields = ", ".join(str(e["loc"][0]) for e in invalid.errors())
        return await _case_page(request, session, person, number, 422, f"Please fill in: {fields}.", form)
    if await web.first_submission(request, session, person, form.get("form_token")):
        await contacts.add_contact(session, number, data, person.principal)
    return web.redirect(f"/service/orders/{number}#contacts")


@router.post("/service/orders/{number}/returns")
async def open_return(request: Request, session: SessionDep, person: Rep, form: Form, number: OrderNumber) -> Response:
    """Open a return of shipped units: the returns service authorizes it (never more than shipped and not yet
    on a return, whatever the page showed)."""
    lines = []
    for name, value in form.items():
        sku = name.removeprefix("return.")
        if name.startswith("return.") and value.strip() not in ("", "0"):
            quantity = web.whole_number(value)
            lines.append({"sku": sku, "quantity": value if quantity is None else quantity,
                          "reason": form.get(f"reason.{sku}")})
    try:
        data = ReturnCreate.model_validate({
            "order": number, "lines": lines, "resolution": form.get("resolution"),
            "advance_replacement": form.get("advance_replacement") == "on", "notes": form.get("notes") or None})
    except ValidationError:
        message = ("Type how many units of a shipped line come back." if not lines
                   else "Each line needs a whole number of units and a reason, and the return a resolution.")
        return await _case_page(request, session, person, number, 422, form=form, return_error=message)
    try:
        await web.once(request, session, person, form.get("return_token"),
                       lambda: returns.authorize(session, data, person.principal, date.today()))
    except DomainError as refused:
        return await _case_page(request, session, person, number, refused.status, form=form,
                                return_error=refused.detail)
    return web.redirect(f"/service/orders/{number}#returns")
