"""People over the API (admin only): `POST /people`, `GET /people`, `PATCH /people/{id}`."""

from typing import Annotated

from fastapi import Path, status
from sqlmodel import select

from erp.auth import Admin
from erp.db import SessionDep
from erp.errors import AlreadyExists
from erp.idempotency import replayed_without
from erp.openapi import errors
from erp.pagination import Cursor, Limit, Page, paginate
from erp.people import service
from erp.people.models import Person
from erp.people.schemas import PersonCreate, PersonCreated, PersonOut, PersonPatch
from erp.routing import router as make_router

router = make_router(tags=["people"])

PersonId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/people", status_code=status.HTTP_201_CREATED, responses=errors(AlreadyExists))
@replayed_without("password")
async def create_person(body: PersonCreate, actor: Admin, session: SessionDep) -> PersonCreated:
    """A staff account with one role. Without `password`, one is generated and answered here only (stored
    hashed); a retry with the same `Idempotency-Key` creates nothing and answers `password: null`."""
    person, generated = await service.create_person(session, body)
    return PersonCreated(**person.model_dump(), password=generated)


@router.get("/people")
async def list_people(actor: Admin, session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[PersonOut]:
    return await paginate(session, select(Person), [Person.id], limit, cursor, lambda r: service.person_out(r[0]))


@router.patch("/people/{person_id}", responses=errors(AlreadyExists))
async def update_person(person_id: PersonId, body: PersonPatch, actor: Admin, session: SessionDep) -> PersonOut:
    """Rename, change the role, set a new password, or disable (`active: false`): a disabled person's
    sessions end at once and their API keys stop working."""
    return await service.update_person(session, person_id, body)
