"""People over the API (admin only): `POST /people`, `GET /people`, `PATCH /people/{id}`."""

from typing import Annotated

from fastapi import Path, Response, status
from sqlmodel import select

from erp import concurrency
from erp.auth import Admin
from erp.concurrency import IfMatchHeader
from erp.db import SessionDep
from erp.errors import AlreadyExists
from erp.idempotency import replayed_without
from erp.openapi import errors, sets_headers
from erp.pagination import Cursor, Limit, Page, paginate
from erp.people import service
from erp.people.models import Person
from erp.people.schemas import PersonCreate, PersonCreated, PersonOut, PersonPatch
from erp.routing import router as make_router

router = make_router(tags=["people"])

PersonId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/people", status_code=status.HTTP_201_CREATED,
             responses=errors(AlreadyExists) | sets_headers(201, "ETag"))
@replayed_without("password")
async def create_person(body: PersonCreate, actor: Admin, session: SessionDep, response: Response) -> PersonCreated:
    """A staff account with one role. Without `password`, one is generated and answered here only (stored
    hashed); a retry with the same `Idempotency-Key` creates nothing and answers `password: null`."""
    person, generated = await service.create_person(session, body)
    concurrency.tag(response, person.version)
    return PersonCreated(**person.model_dump(), password=generated)


@router.get("/people")
async def list_people(actor: Admin, session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[PersonOut]:
    return await paginate(session, select(Person), [Person.id], limit, cursor, lambda r: service.person_out(r[0]))


@router.patch("/people/{person_id}", responses=errors(AlreadyExists) | sets_headers(200, "ETag"))
async def update_person(person_id: PersonId, body: PersonPatch, actor: Admin, session: SessionDep,
                        response: Response, if_match: IfMatchHeader = None) -> PersonOut:
    """Rename, change the role, set a new password, or disable (`active: false`): a disabled person's
    sessions end at once and their API keys stop working. With `If-Match`, only the version it names."""
    person = await service.update_person(session, person_id, body, concurrency.if_match(if_match))
    concurrency.tag(response, person.version)
    return person
