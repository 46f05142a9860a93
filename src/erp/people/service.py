"""Staff accounts: create, change, disable (DOMAIN.md sections 7 and 8). Admin's, over the API and the CLI."""

from sqlalchemy import delete, func, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp import auth
from erp.concurrency import IfMatch
from erp.errors import AlreadyExists, InvalidRequest, NotFound
from erp.people import passwords
from erp.people.models import Person, PersonSession
from erp.people.schemas import PersonCreate, PersonOut, PersonPatch

INSERT_PERSON = text(
    "INSERT INTO person (name, role, password_hash) VALUES (:name, :role, :hash) ON CONFLICT (lower(name)) DO NOTHING"
    " RETURNING id, name, role, active, version, created_at, updated_at"
)
LOCK_PERSON = text("SELECT version FROM person WHERE id = :id FOR UPDATE")
PERSON_OF_KEY = text("SELECT role, active FROM person WHERE id = :id")


def person_out(row: object) -> PersonOut:
    return PersonOut.model_validate(row, from_attributes=True)


async def create_person(session: AsyncSession, data: PersonCreate) -> tuple[PersonOut, str | None]:
    """The new person, and their password if it was generated (shown once; only its hash is kept)."""
    generated = passwords.generate() if data.password is None else None
    password_hash = await passwords.hash_password(data.password or generated or "")
    row = (await session.execute(INSERT_PERSON, {"name": data.name, "role": data.role, "hash": password_hash})).first()
    if row is None:
        raise AlreadyExists(f"A person named {data.name!r} exists already.")
    return PersonOut.model_validate(row._mapping), generated


async def update_person(session: AsyncSession, person_id: int, data: PersonPatch,
                        expected: IfMatch | None = None) -> PersonOut:
    """Change name, role, password or whether the person may sign in; with `expected` (`If-Match`), only the
    version it names. Disabling or a new password ends every session of theirs; disabling stops their keys
    too (in every process within ERP_AUTH_CACHE_SECONDS)."""
    current = (await session.execute(LOCK_PERSON, {"id": person_id})).scalar()
    if current is None:
        raise NotFound(f"No person with id {person_id}.")
    if expected is not None:
        expected.check(current, f"Person {person_id}")
    values: dict[str, object] = {name: getattr(data, name) for name in data.model_fields_set if name != "password"}
    if data.password is not None:
        values["password_hash"] = await passwords.hash_password(data.password)
    statement = (update(Person).where(Person.id == person_id)
                 .values(**values, version=Person.version + 1, updated_at=func.now()).returning(Person))
    try:
        async with session.begin_nested():
            row = (await session.execute(statement)).scalar_one_or_none()
    except IntegrityError:
        raise AlreadyExists(f"A person named {data.name!r} exists already.") from None
    if row is None:
        raise NotFound(f"No person with id {person_id}.")
    if data.active is False or data.password is not None:
        await session.execute(delete(PersonSession).where(PersonSession.person_id == person_id))
    auth.forget_keys()
    return person_out(row)


async def check_key_owner(session: AsyncSession, person_id: int, role: str) -> None:
    """A key given to a person acts as that person, so it must have their role (422 otherwise)."""
    row = (await session.execute(PERSON_OF_KEY, {"id": person_id})).first()
    if row is None:
        raise InvalidRequest(f"No person with id {person_id}.")
    if not row.active:
        raise InvalidRequest(f"Person {person_id} is disabled.")
    if row.role != role:
        raise InvalidRequest(f"Person {person_id} has the role {row.role!r}; their key must have it too.")
