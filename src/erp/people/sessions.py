"""Signing in to the pages: a password checked against its argon2 hash, failed attempts throttled per name
in the database (so every process counts them), and sessions whose cookie token is stored only as a hash."""

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth import Principal
from erp.errors import DomainError, Unauthenticated
from erp.people import passwords

# A session ends after this long without a request.
IDLE_SECONDS = 12 * 3600
# Failures a name may have before it is refused for a while; each further failure doubles the wait.
FREE_FAILURES = 5
FIRST_WAIT_SECONDS = 30
LONGEST_WAIT_SECONDS = 3600
# Failures older than this are forgotten: the count starts again.
FAILURES_FORGOTTEN_AFTER_SECONDS = 24 * 3600

# Attempts on one name take turns (until their transaction ends), so that a burst of parallel guesses
# cannot all pass the check before any failure is counted. Two int4 keys: apart from single-key locks.
ONE_ATTEMPT_AT_A_TIME = text("SELECT pg_advisory_xact_lock(hashtext('erp.sign_in'), hashtext(:name))")
# Names are matched whatever their case (one person per lower(name)).
PERSON_BY_NAME = text("SELECT id, name, role, password_hash, active FROM person WHERE lower(name) = lower(:name)")
WAIT = text(
    "SELECT ceil(extract(epoch FROM blocked_until - now()))::int FROM sign_in_throttle"
    " WHERE name = :name AND blocked_until > now()"
)
FAILED = text("""
    INSERT INTO sign_in_throttle AS t (name, failures, last_failure_at) VALUES (:name, 1, now())
    ON CONFLICT (name) DO UPDATE SET
        failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => :forget) THEN 1 ELSE t.failures + 1 END,
        last_failure_at = now()
    RETURNING failures
""")
BLOCK = text("UPDATE sign_in_throttle SET blocked_until = now() + make_interval(secs => :wait) WHERE name = :name")
SUCCEEDED = text("DELETE FROM sign_in_throttle WHERE name = :name")
OPEN_SESSION = text(
    "INSERT INTO person_session (token_hash, person_id, csrf_token, expires_at)"
    " VALUES (:token_hash, :person_id, :csrf, now() + make_interval(secs => :idle))"
)
# Housekeeping on each sign-in, a bounded batch each: sessions that ended, and failures long forgotten.
PURGE_SESSIONS = text(
    "DELETE FROM person_session WHERE token_hash IN (SELECT token_hash FROM person_session WHERE expires_at <= now()"
    " ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED)"
)
PURGE_FAILURES = text(
    "DELETE FROM sign_in_throttle WHERE name IN (SELECT name FROM sign_in_throttle"
    " WHERE last_failure_at < now() - make_interval(secs => :forget) AND coalesce(blocked_until < now(), true)"
    " LIMIT 100 FOR UPDATE SKIP LOCKED)"
)
# Found, not idle too long, its person still active; and its idle time starts again, in one statement.
TOUCH_SESSION = text("""
    UPDATE person_session s SET expires_at = now() + make_interval(secs => :idle)
      FROM person p
     WHERE s.token_hash = :token_hash AND s.expires_at > now() AND p.id = s.person_id AND p.active
    RETURNING p.id, p.name, p.role, s.csrf_token
""")
END_SESSION = text("DELETE FROM person_session WHERE token_hash = :token_hash")


class WrongNameOrPassword(Unauthenticated):
    """Said alike for an unknown name, a wrong password and a disabled person: nothing tells them apart."""


class TooManyAttempts(DomainError):
    """Too many failed sign-ins with this name: it is refused for a while (`Retry-After` says how long)."""

    status, code, title = 429, "too_many_attempts", "Too many failed sign-ins"

    def __init__(self, wait_seconds: int) -> None:
        super().__init__(f"Too many failed sign-ins with this name; try again in {wait_seconds} seconds.")
        self.wait_seconds = wait_seconds


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A person signed in to the pages: who, and the token every form of this session must carry."""

    person_id: int
    name: str
    role: str
    csrf_token: str

    @property
    def principal(self) -> Principal:
        return Principal(key_id=None, name=self.name, role=self.role, person_id=self.person_id)


def hash_token(token: str) -> str:
    # 256 random bits: a fast hash is as strong as a slow one here.
    return hashlib.sha256(token.encode()).hexdigest()


def _throttle_key(name: str) -> str:
    return name.casefold()[:100]


def wait_after(failures: int) -> int:
    """Seconds a name is refused after its `failures`-th failure in a row (0: not yet)."""
    if failures < FREE_FAILURES:
        return 0
    return min(LONGEST_WAIT_SECONDS, FIRST_WAIT_SECONDS * 2 ** (failures - FREE_FAILURES))


async def sign_in(session: AsyncSession, name: str, password: str) -> tuple[SignedIn, str]:
    """The signed-in person and the session's token for the cookie (shown once; only its hash is stored).
    Raises TooManyAttempts while the name is throttled, WrongNameOrPassword otherwise."""
    key = _throttle_key(name)
    await session.execute(ONE_ATTEMPT_AT_A_TIME, {"name": key})
    wait = (await session.execute(WAIT, {"name": key})).scalar()
    if wait:
        raise TooManyAttempts(wait)
    person = (await session.execute(PERSON_BY_NAME, {"name": name})).first() if len(name) <= 100 else None
    # The hash is checked even for an unknown name, so a wrong name takes as long as a wrong password.
    valid = await passwords.verify(person.password_hash if person else None, password)
    if person is None or not valid or not person.active:
        failures = (await session.execute(FAILED, {"name": key, "forget": FAILURES_FORGOTTEN_AFTER_SECONDS})).scalar_one()
        if wait_after(failures):
            await session.execute(BLOCK, {"name": key, "wait": wait_after(failures)})
        raise WrongNameOrPassword("Wrong name or password.")
    await session.execute(SUCCEEDED, {"name": key})
    await session.execute(PURGE_SESSIONS)
    await session.execute(PURGE_FAILURES, {"forget": FAILURES_FORGOTTEN_AFTER_SECONDS})
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await session.execute(OPEN_SESSION, {"token_hash": hash_token(token), "person_id": person.id, "csrf": csrf,
                                         "idle": IDLE_SECONDS})
    return SignedIn(person.id, person.name, person.role, csrf), token


async def signed_in(session: AsyncSession, token: str) -> SignedIn | None:
    """Who holds this session token, if it is still valid; their idle time starts again."""
    row = (await session.execute(TOUCH_SESSION, {"token_hash": hash_token(token), "idle": IDLE_SECONDS})).first()
    return SignedIn(row.id, row.name, row.role, row.csrf_token) if row else None


async def sign_out(session: AsyncSession, token: str) -> None:
    await session.execute(END_SESSION, {"token_hash": hash_token(token)})
