import asyncio
import os
import subprocess
import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from erp.db import async_url


async def erp(database_url, *args):
    env = {**os.environ, "ERP_DATABASE_URL": database_url, "ERP_LOG_LEVEL": "WARNING"}
    process = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "erp.cli", *args], env=env, capture_output=True, text=True, timeout=120)
    return process


async def test_demo_loads_a_world_worth_exploring_and_check_passes(database_url):
    loaded = await erp(database_url, "demo")
    assert loaded.returncode == 0, loaded.stderr
    assert "admin API key (shown once): erp_" in loaded.stdout
    checked = await erp(database_url, "check")
    assert checked.returncode == 0, checked.stdout
    assert "invariants hold" in checked.stdout
    again = await erp(database_url, "demo")
    assert "already loaded" in again.stdout


async def test_check_fails_with_a_readable_report_when_a_projection_drifts(database_url):
    assert (await erp(database_url, "demo")).returncode == 0
    engine = create_async_engine(async_url(database_url))
    async with engine.begin() as connection:
        await connection.execute(text(
            "UPDATE stock_level SET on_hand = on_hand + 1 WHERE (product_id, warehouse_id) = "
            "(SELECT product_id, warehouse_id FROM stock_level ORDER BY 1, 2 LIMIT 1)"))
    await engine.dispose()
    checked = await erp(database_url, "check")
    assert checked.returncode == 1
    assert "FAIL  2. on_hand and quarantined equal the stock in storage and quarantine locations" in checked.stdout


async def test_keys_create_prints_a_working_key_once(database_url):
    created = await erp(database_url, "keys", "create", "--role", "warehouse", "--name", "scanner 7")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("erp_")
    refused = await erp(database_url, "keys", "create", "--role", "root", "--name", "x")
    assert refused.returncode != 0
