"""Administration over the API: API keys (admin only)."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, status
from pydantic import BaseModel, Field
from sqlmodel import select

from erp import auth
from erp.auth import Admin
from erp.db import SessionDep
from erp.idempotency import replayed_without
from erp.models import ApiKey
from erp.pagination import Cursor, Limit, Page, paginate
from erp.people import service as people
from erp.routing import router as make_router
from erp.schemas import Input, Name, example

router = make_router(tags=["admin"])

Role = Literal["admin", "service", "warehouse", "purchasing", "integration"]


class ApiKeyCreate(Input):
    model_config = example({"name": "web shop", "role": "integration"})

    name: Name
    role: Role
    person_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description=(
        "The person the key belongs to (it acts as them, and must have their role); omitted: an integration's "
        "key, its own identity."))


class ApiKeyOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    person_id: int | None
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str | None = Field(
        description="The plain key, shown once; null in the replay of an Idempotency-Key (it is not stored)."
    )


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
@replayed_without("key")
async def create_api_key(body: ApiKeyCreate, actor: Admin, session: SessionDep) -> ApiKeyCreated:
    """Create a key. The plain key is in this response only; it is stored hashed. A retry with the same
    `Idempotency-Key` creates nothing and answers the same key with `key: null`: the secret is never stored,
    so it cannot be shown twice (revoke that key and create another if its secret was lost)."""
    if body.person_id is not None:
        await people.check_key_owner(session, body.person_id, body.role)
    row, key = await auth.create_key(session, name=body.name, role=body.role, person_id=body.person_id)
    return ApiKeyCreated(**ApiKeyOut.model_validate(row, from_attributes=True).model_dump(), key=key)


@router.get("/api-keys")
async def list_api_keys(actor: Admin, session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[ApiKeyOut]:
    return await paginate(
        session, select(ApiKey), [ApiKey.id], limit, cursor, lambda r: ApiKeyOut.model_validate(r[0], from_attributes=True)
    )


@router.delete("/api-keys/{key_id}")
async def revoke_api_key(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], actor: Admin, session: SessionDep
) -> ApiKeyOut:
    """Revoke a key at once on this server (other workers within `ERP_AUTH_CACHE_SECONDS`)."""
    return ApiKeyOut.model_validate(await auth.revoke_key(session, key_id), from_attributes=True)
