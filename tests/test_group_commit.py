"""On a real PostgreSQL: `db.GroupCommit` (concurrent callers of a statement that commits on its own go
together, one round trip and one transaction a group, the global lock order kept) and `db.Coalesced`
(concurrent reads by keys, one statement for the readers who come together)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from erp.db import Coalesced, GroupCommit, HotStatement, _Caller, create_engine, groups, sessionmaker
from erp.metrics import GROUPED
from tests import conftest

# Each caller's answer says which transaction ran it: a group's callers share one.
DIVIDE = HotStatement(text("SELECT CAST(:n AS int) / CAST(:d AS int) AS q, txid_current() AS tx"))
KILL = HotStatement(text("SELECT CAST(:n AS int) AS n, CASE WHEN CAST(:kill AS boolean)"
                         " THEN pg_terminate_backend(pg_backend_pid()) END AS killed"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, conftest.test_settings()).execution_options(isolation_level="AUTOCOMMIT")
    yield engine
    await engine.dispose()


async def call(engine: AsyncEngine, group: GroupCommit, params: dict[str, Any], locks: list[tuple[int, ...]]) -> Any:
    async with sessionmaker(engine)() as session:
        return await group.fetch(session, params, locks)


def sizes() -> tuple[float, float]:
    """(callers sent, groups sent) so far, from the histogram of group sizes."""
    collected = {s.name: s.value for s in next(iter(GROUPED.collect())).samples}
    return collected["erp_group_commit_size_sum"], collected["erp_group_commit_size_count"]


async def test_callers_who_come_together_share_one_transaction_and_each_gets_its_own_row(engine):
    group = GroupCommit(DIVIDE)
    sent_before, groups_before = sizes()
    answers = await asyncio.gather(*(call(engine, group, {"n": n, "d": 1}, [(1,)]) for n in range(30)))
    assert [a["q"] for a in answers] == list(range(30))
    sent, groups_sent = sizes()
    assert (sent - sent_before, groups_sent - groups_before) == (30, 1)
    assert len({a["tx"] for a in answers}) == 1


async def test_callers_who_come_while_a_group_is_in_flight_go_together_in_the_next(engine):
    group = GroupCommit(DIVIDE)
    first = asyncio.create_task(call(engine, group, {"n": 0, "d": 1}, [(1,)]))
    await asyncio.sleep(0)  # it is sent, alone
    answers = await asyncio.gather(*(call(engine, group, {"n": n, "d": 1}, [(1,)]) for n in range(1, 20)))
    assert [a["q"] for a in answers] == list(range(1, 20))
    assert len({a["tx"] for a in answers}) == 1
    assert (await first)["tx"] != answers[0]["tx"]


async def test_a_group_postgresql_refuses_runs_again_caller_by_caller(engine):
    group = GroupCommit(DIVIDE)
    calls = [call(engine, group, {"n": n, "d": 0 if n == 7 else 1}, [(1,)]) for n in range(12)]
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(answers[7], DBAPIError) and "division by zero" in str(answers[7].orig)
    assert [a["q"] for n, a in enumerate(answers) if n != 7] == [n for n in range(12) if n != 7]
    # Run again alone: each in its own transaction.
    again = [a["tx"] for n, a in enumerate(answers) if n != 7]
    assert len(set(again)) == len(again)


async def test_a_group_whose_connection_is_lost_fails_every_caller_and_none_runs_again(engine):
    """Whether a lost group committed is unknown, so no caller may run again as if it had not."""
    group = GroupCommit(KILL)
    calls = [call(engine, group, {"n": n, "kill": n == 5}, [(1,)]) for n in range(10)]
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(a, DBAPIError) and a.connection_invalidated for a in answers)
    assert (await call(engine, group, {"n": 1, "kill": False}, [(1,)]))["n"] == 1  # the pool recovered


async def test_a_statement_that_does_not_answer_one_row_per_caller_fails_them_all_and_leaves_none_waiting(engine):
    group = GroupCommit(HotStatement(text("SELECT CAST(:n AS int) AS n WHERE CAST(:n AS int) <> 3")))
    calls = [call(engine, group, {"n": n}, [(1,)]) for n in range(6)]
    answers = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=30)
    assert all(isinstance(a, RuntimeError) for a in answers)


async def test_in_a_transaction_the_statement_runs_there_alone(engine, database_url):
    transactional = create_engine(database_url, conftest.test_settings())
    try:
        async with sessionmaker(transactional)() as session, session.begin():
            mine = (await session.execute(text("SELECT txid_current()"))).scalar_one()
            row = await GroupCommit(DIVIDE).fetch(session, {"n": 4, "d": 2}, [(1,)])
        assert (row["q"], row["tx"]) == (2, mine)
    finally:
        await transactional.dispose()


def lock_sequence(group: list[_Caller]) -> list[tuple[int, ...]]:
    """The locks a group takes, in the order it takes them (a row it holds already is not taken again)."""
    taken: list[tuple[int, ...]] = []
    for caller in group:
        taken += [lock for lock in caller.locks if lock not in taken]
    return taken


locks = st.lists(st.tuples(st.integers(1, 6), st.integers(1, 3)), min_size=0, max_size=4).map(
    lambda ls: tuple(sorted(set(ls))))


@given(st.lists(locks, max_size=40), st.integers(1, 8))
def test_every_group_takes_its_locks_in_the_global_order_and_every_caller_goes_once(callers_locks, limit):
    callers = [_Caller([n], ls, None) for n, ls in enumerate(callers_locks)]  # type: ignore[arg-type]
    made = groups(callers, limit)
    assert sorted(c.arguments[0] for g in made for c in g) == list(range(len(callers)))
    for group in made:
        assert 1 <= len(group) <= limit
        sequence = lock_sequence(group)
        assert sequence == sorted(sequence)


def test_callers_of_one_hot_row_go_in_one_group():
    callers = [_Caller([n], ((1, 10, 1),), None) for n in range(50)]  # type: ignore[arg-type]
    assert [len(g) for g in groups(callers, 100)] == [50]
    assert [len(g) for g in groups(callers, 20)] == [20, 20, 10]


# --- Coalesced: concurrent reads by keys, one statement for those who come together ------------------------

READ = HotStatement(text("SELECT k, k * 10 AS tenfold, txid_current() AS tx FROM unnest(CAST(:keys AS int[])) AS k"
                         " WHERE k <> 0 AND 1 / (k + 100) >= 0"))


async def read(engine: AsyncEngine, reads: Coalesced, keys: list[int]) -> list[Any]:
    async with sessionmaker(engine)() as session:
        return await reads.fetch(session, keys)


async def test_readers_who_come_together_share_one_statement_and_each_gets_the_rows_of_its_keys(engine):
    reads = Coalesced(READ, "keys", "k")
    asked = [[1, 2], [2, 3], [0], [4], [1, 2, 3, 4, 5]]
    answers = await asyncio.gather(*(read(engine, reads, keys) for keys in asked))
    assert [sorted(row["k"] for row in rows) for rows in answers] == [[1, 2], [2, 3], [], [4], [1, 2, 3, 4, 5]]
    assert all(row["tenfold"] == row["k"] * 10 for rows in answers for row in rows)
    assert len({row["tx"] for rows in answers for row in rows}) == 1


async def test_readers_who_come_while_a_read_is_in_flight_read_in_the_next(engine):
    reads = Coalesced(READ, "keys", "k")
    first = asyncio.create_task(read(engine, reads, [1]))
    await asyncio.sleep(0)
    later = await asyncio.gather(*(read(engine, reads, [n]) for n in range(2, 12)))
    assert [[row["k"] for row in rows] for rows in later] == [[n] for n in range(2, 12)]
    assert len({rows[0]["tx"] for rows in later}) == 1
    assert (await first)[0]["tx"] != later[0][0]["tx"]


async def test_reads_are_split_at_the_limit_of_keys(engine):
    reads = Coalesced(READ, "keys", "k", limit=4)
    answers = await asyncio.gather(*(read(engine, reads, [n, n + 100]) for n in range(1, 7)))
    assert [sorted(row["k"] for row in rows) for rows in answers] == [[n, n + 100] for n in range(1, 7)]
    assert len({row["tx"] for rows in answers for row in rows}) == 3  # 12 keys, 4 a read


async def test_a_read_that_fails_fails_each_of_its_readers(engine):
    reads = Coalesced(READ, "keys", "k")
    answers = await asyncio.gather(*(read(engine, reads, keys) for keys in ([1], [-100], [2])),
                                   return_exceptions=True)
    assert all(isinstance(a, DBAPIError) and "division by zero" in str(a.orig) for a in answers)
    assert [row["k"] for row in await read(engine, reads, [2])] == [2]


async def test_in_a_transaction_a_read_runs_there_alone(database_url):
    transactional = create_engine(database_url, conftest.test_settings())
    try:
        async with sessionmaker(transactional)() as session, session.begin():
            mine = (await session.execute(text("SELECT txid_current()"))).scalar_one()
            rows = await Coalesced(READ, "keys", "k").fetch(session, [7])
        assert [(row["k"], row["tx"]) for row in rows] == [(7, mine)]
    finally:
        await transactional.dispose()
