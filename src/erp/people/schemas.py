from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from erp.schemas import Input, Name, example

Role = Literal["admin", "service", "warehouse", "purchasing", "integration"]
# Events and receipts name their actor in at most 100 characters.
PersonName = Annotated[Name, StringConstraints(max_length=100)]
# Long enough to resist guessing at the sign-in throttle's pace; argon2 takes any length, 200 bounds the work.
Password = Annotated[str, StringConstraints(min_length=12, max_length=200, pattern=r"^[^\x00]*$")]


class PersonCreate(Input):
    model_config = example({"name": "Lucia Moreno", "role": "service"})

    name: PersonName
    role: Role
    password: Password | None = Field(default=None, description="Omitted: one is generated and answered once.")


class PersonPatch(Input):
    model_config = example({"role": "warehouse", "active": False})

    name: PersonName | None = None
    role: Role | None = None
    active: bool | None = Field(default=None, description="false: disabled; their sessions end and their keys stop.")
    password: Password | None = Field(default=None, description="A new password; every session of theirs ends.")

    @model_validator(mode="after")
    def _changes_something(self) -> "PersonPatch":
        if not self.model_fields_set:
            raise ValueError("send at least one of name, role, active, password")
        for field in self.model_fields_set:
            if getattr(self, field) is None:
                raise ValueError(f"{field} may not be null")
        return self


class PersonOut(BaseModel):
    id: int
    name: str
    role: Role
    active: bool
    version: int = Field(description="Its ETag, unquoted: send it as `If-Match` to change exactly this version.")
    created_at: datetime
    updated_at: datetime


class PersonCreated(PersonOut):
    password: str | None = Field(
        description="The generated password, shown once: null when one was sent, and in the replay of an "
                    "Idempotency-Key (it is not stored).")
