"""What every page shares: its transaction, who is signed in, forms (CSRF, done once), and rendering."""

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from erp import idempotency
from erp.db import SessionDep, UnitOfWork
from erp.people import sessions
from erp.people.sessions import SignedIn
from erp.routing import run

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

SESSION_COOKIE = "erp_session"
# Before anyone signs in there is no session to hold a CSRF token: the sign-in form's token is also a cookie
# (double submit), so another site can neither read it nor set the field to match.
SIGN_IN_COOKIE = "erp_sign_in"

# Every page: no script or style from anywhere but this server, never framed, never cached.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
                               "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

# Where each role starts after signing in.
HOMES = {"service": "/service", "warehouse": "/warehouse", "admin": "/service"}
# What each role may open, for its home page.
OPENS = {
    "admin": [("/service", "Rep's console"), ("/dashboard", "Dashboard"), ("/warehouse", "Warehouse"), ("/docs", "API explorer")],
    "service": [("/service", "Rep's console"), ("/dashboard", "Dashboard"), ("/docs", "API explorer")],
    "warehouse": [("/warehouse", "Warehouse"), ("/docs", "API explorer")],
    "purchasing": [("/docs", "API explorer")],
    "integration": [("/docs", "API explorer")],
}
templates.env.globals["opens_of"] = lambda role: OPENS.get(role, [])


def money(amount: Decimal) -> str:
    """An amount as people read it: cents always (49.90), more places only when it has them."""
    return f"{amount:.2f}" if amount == round(amount, 2) else format(amount.normalize(), "f")


templates.env.filters["money"] = money


class PageRoute(APIRoute):
    """A page runs in one transaction on the primary, committed before the response leaves (as the API's
    routes do): what a person just did is what the next page shows."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def in_transaction(request: Request) -> Response:
            return await run(request, UnitOfWork(request.app.state.sessionmaker), handler)

        return in_transaction


class PageError(Exception):
    """Shown as a page of its own with `status`."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class SignInRequired(Exception):
    """Not signed in (or the session ended): back to the sign-in form."""


def home_of(role: str) -> str:
    return HOMES.get(role, "/home")


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"request": request, **context}, status_code=status,
                                      headers=HEADERS)


def redirect(url: str) -> RedirectResponse:
    # 303: the browser follows with a GET, so reloading the next page never sends the form again.
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def current_person(request: Request, session: SessionDep) -> SignedIn:
    token = request.cookies.get(SESSION_COOKIE)
    person = await sessions.signed_in(session, token) if token else None
    if person is None:
        raise SignInRequired()
    request.state.person = person
    return person


Person = Annotated[SignedIn, Depends(current_person)]


def allowed(*roles: str) -> Any:
    """A signed-in person whose role is one of `roles`; any other is refused with a page saying so."""

    async def dependency(person: Person) -> SignedIn:
        if person.role not in roles:
            raise PageError(403, "Not for your role", f"This page is for {' or '.join(roles)}; you are signed in "
                                                      f"as {person.name} ({person.role}).")
        return person

    return Annotated[SignedIn, Depends(dependency)]


Rep = allowed("service", "admin")
WarehouseWorker = allowed("warehouse", "admin")


async def form_fields(request: Request) -> dict[str, str]:
    """An HTML form's fields (application/x-www-form-urlencoded), the last value of each."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[-1] for name, values in parse_qs(body, keep_blank_values=True).items()}


def same_token(sent: str | None, expected: str | None) -> bool:
    return bool(sent and expected) and hmac.compare_digest(sent.encode(), expected.encode())  # type: ignore[union-attr]


async def checked_form(request: Request, person: Person) -> dict[str, str]:
    """The fields of a signed-in person's form, refused unless it carries their session's CSRF token."""
    fields = await form_fields(request)
    if not same_token(fields.get("csrf"), person.csrf_token):
        raise PageError(403, "Form refused", "This form did not come from this site, or is from a session that has "
                                             "ended. Go back, reload the page and send it again.")
    return fields


Form = Annotated[dict[str, str], Depends(checked_form)]


def whole_number(value: str | None) -> int | None:
    """A count typed into a form (ASCII digits, at most 9 of them), or None."""
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def new_form_token() -> str:
    return secrets.token_urlsafe(24)


async def first_submission(request: Request, session: AsyncSession, person: SignedIn, form_token: str | None) -> bool:
    """Whether this is the first time this form (its one-time token, rendered with the page) is sent: a
    double click or a resend after a timeout does the work once, as an API call with an Idempotency-Key. The
    token is claimed in the request's transaction, like an Idempotency-Key."""
    if not form_token or len(form_token) > 64:
        raise PageError(400, "Form refused", "The form is incomplete; reload the page and send it again.")
    scope = hashlib.sha256(f"page-form:{person.person_id}".encode()).hexdigest()
    claimed = (await session.execute(idempotency.CLAIM, {
        "scope": scope, "key": form_token, "fingerprint": hashlib.sha256(form_token.encode()).hexdigest(),
        "ttl_seconds": request.app.state.settings.idempotency_ttl_hours * 3600})).first()
    return claimed is not None


async def once(request: Request, session: AsyncSession, person: SignedIn, form_token: str | None,
               work: Callable[[], Awaitable[Any]]) -> None:
    """Do a form's `work` (a domain service call) the first time its one-time token is sent, in a savepoint:
    a domain refusal undoes it all, the token's claim included, so the corrected form can be sent again."""
    async with session.begin_nested():
        if await first_submission(request, session, person, form_token):
            await work()


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=sessions.IDLE_SECONDS, path="/", httponly=True,
                        samesite="lax", secure=secure(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure(request))
