"""People (DOMAIN.md section 8): staff accounts with one role, managed by admin; a key may belong to one."""

import asyncio
import os
import subprocess
import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from erp.db import async_url


async def given_person(api, name="Lucia Moreno", role="service", password="correct horse battery"):
    return await api.ok("post", "/people", {"name": name, "role": role, "password": password})


async def test_a_person_created_without_a_password_gets_one_generated_and_shown_once(api):
    headers = {"Idempotency-Key": "person-1"}
    first = await api.post("/people", {"name": "Jon Picker", "role": "warehouse"}, headers=headers)
    assert first.status_code == 201, first.text
    created = first.json()
    assert len(created["password"]) >= 12 and created["role"] == "warehouse" and created["active"] is True
    replay = await api.post("/people", {"name": "Jon Picker", "role": "warehouse"}, headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert {**replay.json(), "password": created["password"]} == created
    assert replay.json()["password"] is None
    page = await api.ok("get", "/people")
    assert [p["name"] for p in page["items"]] == ["Jon Picker"]


async def test_a_chosen_password_is_never_answered_and_no_hash_is_listed(api):
    created = await given_person(api)
    assert created["password"] is None
    for person in (await api.ok("get", "/people"))["items"]:
        assert set(person) == {"id", "name", "role", "active", "version", "created_at", "updated_at"}


async def test_a_name_belongs_to_one_person_whatever_its_case(api):
    await given_person(api)
    for name in ("Lucia Moreno", "lucia moreno"):
        again = await api.post("/people", {"name": name, "role": "admin", "password": "another password"})
        assert (again.status_code, again.json()["code"]) == (409, "already_exists")
    other = await given_person(api, "Mei Verifier", "warehouse")
    renamed = await api.patch(f"/people/{other['id']}", {"name": "LUCIA MORENO"})
    assert (renamed.status_code, renamed.json()["code"]) == (409, "already_exists")


async def test_people_are_listed_a_page_at_a_time(api):
    for n in range(5):
        await given_person(api, f"Person {n}")
    first = await api.ok("get", "/people?limit=3")
    second = await api.ok("get", f"/people?limit=3&cursor={first['next_cursor']}")
    assert [p["name"] for p in first["items"] + second["items"]] == [f"Person {n}" for n in range(5)]
    assert second["next_cursor"] is None


async def test_admin_changes_the_role_the_name_and_disables(api):
    person = await given_person(api)
    changed = await api.ok("patch", f"/people/{person['id']}", {"role": "warehouse", "name": "Lucia M."})
    assert (changed["role"], changed["name"], changed["active"]) == ("warehouse", "Lucia M.", True)
    assert changed["updated_at"] >= person["updated_at"]
    disabled = await api.ok("patch", f"/people/{person['id']}", {"active": False})
    assert disabled["active"] is False
    missing = await api.patch("/people/999999", {"active": False})
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


async def test_inputs_are_strict(api):
    person = await given_person(api)
    for body in ({"name": "x", "role": "root", "password": "long enough password"},
                 {"name": "x", "role": "service", "password": "short"},
                 {"name": " padded", "role": "service"},
                 {"name": "x" * 101, "role": "service"},
                 {"name": "x", "role": "service", "password_hash": "$argon2id$..."}):
        refused = await api.post("/people", body)
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_error"), body
    for body in ({}, {"name": None}, {"active": "false"}, {"active": 0}, {"role": None}, {"id": 3}):
        refused = await api.patch(f"/people/{person['id']}", body)
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_error"), body


async def test_a_persons_key_acts_as_them_and_stops_when_they_are_disabled(api):
    person = await given_person(api)
    created = await api.ok("post", "/api-keys", {"name": "Lucia's laptop", "role": "service",
                                                 "person_id": person["id"]})
    assert created["person_id"] == person["id"]
    lucia = api.as_("lucia")
    lucia.keys = {**api.keys, "lucia": created["key"]}
    assert (await lucia.get("/orders")).status_code == 200
    assert (await lucia.get("/suppliers")).status_code == 403
    # Their role is their key's role: a person has exactly one.
    await api.ok("patch", f"/people/{person['id']}", {"role": "purchasing"})
    assert (await lucia.get("/suppliers")).status_code == 200
    await api.ok("patch", f"/people/{person['id']}", {"active": False})
    refused = await lucia.get("/products")
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")
    await api.ok("patch", f"/people/{person['id']}", {"active": True})
    assert (await lucia.get("/products")).status_code == 200


async def test_a_key_for_a_person_must_have_their_role_and_the_person_must_exist(api):
    person = await given_person(api)
    for body in ({"name": "k", "role": "admin", "person_id": person["id"]},
                 {"name": "k", "role": "service", "person_id": 999999}):
        refused = await api.post("/api-keys", body)
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_error"), body


async def test_the_password_is_stored_as_an_argon2id_hash(api, database_url):
    person = await given_person(api)
    engine = create_async_engine(async_url(database_url))
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT password_hash FROM person WHERE id = :id"),
                                           {"id": person["id"]})).scalar()
    await engine.dispose()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


async def _erp(database_url, *args, stdin=None):
    env = {**os.environ, "ERP_DATABASE_URL": database_url, "ERP_LOG_LEVEL": "WARNING"}
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "erp.cli", *args], env=env, input=stdin,
                                   capture_output=True, text=True, timeout=120)


async def test_people_create_prints_a_generated_password_once_or_reads_one_from_stdin(database_url):
    generated = await _erp(database_url, "people", "create", "--name", "Jon Picker", "--role", "warehouse")
    assert generated.returncode == 0, generated.stderr
    assert "Jon Picker (warehouse)" in generated.stdout and "password (shown once): " in generated.stdout
    chosen = await _erp(database_url, "people", "create", "--name", "Mei", "--role", "warehouse", "--password-stdin",
                        stdin="a password of my own\n")
    assert chosen.returncode == 0, chosen.stderr
    assert "password" not in chosen.stdout
    again = await _erp(database_url, "people", "create", "--name", "Mei", "--role", "service")
    assert again.returncode != 0 and "exists already" in again.stderr
    bad = await _erp(database_url, "people", "create", "--name", "X", "--role", "root")
    assert bad.returncode != 0


async def test_a_change_names_the_version_it_is_meant_for(api):
    person = await given_person(api)
    assert person["version"] == 1
    changed = await api.patch(f"/people/{person['id']}", {"role": "warehouse"}, headers={"If-Match": '"1"'})
    assert (changed.status_code, changed.headers["etag"], changed.json()["version"]) == (200, '"2"', 2)
    stale = await api.patch(f"/people/{person['id']}", {"active": False}, headers={"If-Match": '"1"'})
    assert (stale.status_code, stale.json()["code"]) == (412, "version_conflict")
    assert (await api.ok("get", "/people"))["items"][0]["active"] is True
