"""Start-up failures as one clear line on stderr and exit status 1, not a traceback.

The database unreachable, missing or refusing the login, a URL that is not PostgreSQL, an embedded server
that will not start, a port already taken: each is a fact about the environment that the operator fixes,
so the message names it and the configuration involved. Anything else is a bug and keeps its traceback.
"""

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError


class StartupFailure(Exception):
    """A failure the operator fixes; its message is the whole story."""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]


def _where() -> str:
    url = os.environ.get("ERP_DATABASE_URL")
    if not url:
        return "the embedded database"
    try:
        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=True)
    except Exception:
        return "ERP_DATABASE_URL"


def explain(exc: BaseException) -> str | None:
    """One line saying what is wrong, or None if `exc` is not a start-up failure we know."""
    for cause in _causes(exc):
        name = type(cause).__name__
        text = " ".join(str(cause).split())
        if isinstance(cause, StartupFailure):
            return text
        if isinstance(cause, ValueError) and text.startswith("only PostgreSQL is supported"):
            return f"ERP_DATABASE_URL must be a postgresql:// URL: {text}"
        if isinstance(cause, (ArgumentError, NoSuchModuleError)):
            return f"ERP_DATABASE_URL is not a usable PostgreSQL URL: {text}"
        if name == "InvalidCatalogNameError":
            return f"the database does not exist ({_where()}): {text}; create it or fix ERP_DATABASE_URL"
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return f"the database refused the login ({_where()}): {text}"
        if name in ("CannotConnectNowError", "TooManyConnectionsError"):
            return f"the database does not accept connections now ({_where()}): {text}"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the database host ({_where()}): {text}"
        if isinstance(cause, TimeoutError):
            return f"timed out connecting to the database ({_where()})"
        if isinstance(cause, OSError) and (
            isinstance(cause, ConnectionError)
            or cause.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENOENT)
            or "Connect call failed" in text
        ):
            return f"cannot reach the database ({_where()}): {text}"
        if name == "CommandError" and "Can't locate revision" in text:
            return (f"the database ({_where()}) was migrated by another version of erp: {text}; "
                    "run the version that migrated it, or use another database")
        if isinstance(cause, subprocess.CalledProcessError) and "pg_ctl" in str(cause.cmd):
            return "the embedded PostgreSQL did not start; its log is in ERP_DATA_DIR/pgdata/log"
    return None


@contextmanager
def reported_failures() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        reason = explain(exc)
        if reason is None:
            raise
        print(f"erp: cannot start: {reason}", file=sys.stderr, flush=True)
        sys.exit(1)
