"""The scale-out set-up for W6: a streaming standby of the bench's server, pgbouncer in front of each.

The standby is made with `pg_basebackup -R` (bench/clusters.py) from the embedded server while it runs, so
it holds the whole data set; pgbouncer runs in transaction mode, as README "Running more than one process"
describes. The service then runs with `ERP_DATABASE_POOLER=transaction`, its writes through one pgbouncer to
the primary, its reads through the other to the standby, migrations straight to the primary.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from bench.clusters import pgbouncer, standby_of
from bench.database import Server, dsn


@dataclass
class ScaledOut:
    env: dict[str, str]
    primary_url: str
    cpu_roots: dict[str, int | None] = field(default_factory=dict)


@contextmanager
def scaled_out(server: Server, pool_size: int = 20) -> Iterator[ScaledOut]:
    with ExitStack() as stack:
        standby = standby_of(server.url)
        stack.callback(standby.remove)
        bouncers: list[int] = []
        primary = stack.enter_context(pgbouncer(server.database_url, pool_size, bouncers))
        reads = stack.enter_context(pgbouncer(dsn(standby.url(), server.database), pool_size, bouncers))
        env = {"ERP_DATABASE_POOLER": "transaction", "ERP_DIRECT_DATABASE_URL": server.database_url,
               "ERP_READ_DATABASE_URL": reads}
        # Both pgbouncers count as one group: their parent is this process, so give each its own root.
        roots: dict[str, int | None] = {"standby": standby.postmaster_pid}
        roots |= {f"pgbouncer{n}": pid for n, pid in enumerate(bouncers, 1)}
        yield ScaledOut(env=env, primary_url=primary, cpu_roots=roots)
