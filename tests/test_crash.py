"""Crash safety under load (bench/crash.py): a killed service and a crashed database lose nothing acknowledged."""

import pytest

from bench import crash


@pytest.mark.slow
def test_acknowledged_orders_survive_a_killed_service_and_a_crashed_database():
    report = crash.run(crash.Plan(clients=24, phase_seconds=2.0, database_down_seconds=2.0))
    print(report.summary())
    assert report.ok, report.summary()
    assert report.acknowledged > 0 and report.orders_in_database == report.acknowledged
    assert report.answers_while_down > 0 and report.slowest_answer_while_down < report.plan.answer_bound_seconds
    assert report.recovery_seconds is not None


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate", ["57P01", "57P02", "57P03", "08006", "08001", "53300"])
async def test_a_database_shutting_down_starting_up_or_out_of_connections_is_503_not_500(sqlstate):
    """What a crash looks like to the driver (`the database system is starting up` is 57P03)."""
    from sqlalchemy.exc import DBAPIError
    from starlette.requests import Request

    from erp.errors import _database_error

    request = Request({"type": "http", "method": "POST", "path": "/api/v1/orders", "headers": [], "query_string": b""})
    response = await _database_error(request, DBAPIError("SELECT 1", {}, _DriverError(sqlstate)))
    assert response.status_code == 503
    assert b'"database_unavailable"' in response.body
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize("autocommit", [True, False])
async def test_a_hot_statement_that_cannot_connect_fails_as_a_session_would(server_url, autocommit):
    """A hot read takes its own pooled connection (`HotStatement` outside a transaction); a connection that
    cannot be made must raise SQLAlchemy's error, as a session's does, so that the error handlers map a server
    shutting down (57P01) or starting up (57P03) to 503, not the driver's own exception to a 500. Found in
    tests/test_scaleout.py's failover, as a 500 while the primary was shutting down."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from erp.db import HotStatement, create_engine, sessionmaker
    from tests.conftest import _with_database, test_settings

    engine = create_engine(_with_database(server_url, "erp_no_such_database"), test_settings())
    if autocommit:
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with sessionmaker(engine)() as session:
            with pytest.raises(DBAPIError) as raised:
                await HotStatement(text("SELECT 1 AS one")).fetch(session, {})
        assert "erp_no_such_database" in str(raised.value.orig)
    finally:
        await engine.dispose()
