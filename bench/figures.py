"""How long `GET /metrics/service` takes on a year of history: 100,000 orders (`python -m bench.figures`).

The bench's own data set is products and stock (`bench.dataset`) and orders placed through the floor, all of
them today and merely reserved: nothing to count. So this script builds the bench's warehouses and products
the bench's way and then writes a history in bulk SQL, seeded, spread over the last 400 days:
- orders in every channel with 1 to 4 lines over the first 10,000 products; 8 % of lines backordered at
  placement;
- orders older than 5 days: 90 % shipped (picked, packed, one shipment 0 to 5 days after placing, promised
  1 to 4 days after placing, first promised up to a day earlier; 3 % of their lines on a return), 5 %
  cancelled, 5 % still backordered; younger orders confirmed;
- contacts: about 0.6 per order (none on 60 %, up to 6); events: placed, status changes, pick-listed,
  packed, shipped per shipped order, 1 % pack mismatches; a pick list a day per warehouse with a line per
  shipped line, 1 % short; 2,000 completed repairs; 5 suppliers, each preferred for a fifth of the products.

These rows bypass the ledger and reservations (no stock moves for the history): the data set is for reading
figures, not for `erp check`. Then the figures are asked for through the app in process (httpx over ASGI,
no network), for a 30-day and a 366-day window, every channel and one channel, each several times; the
script prints the median and the best of each.

    .venv/bin/python -m bench.figures                 # embedded PostgreSQL in a temporary directory
    .venv/bin/python -m bench.figures --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

import argparse
import asyncio
import statistics
import time
from datetime import date, timedelta

import asyncpg
import httpx

from bench import database, dataset
from erp.app import create_app
from erp.config import Settings
from erp.migrations import upgrade

ORDERS = 100_000
PRODUCTS = 10_000
DAYS = 400
RUNS = 7

SUPPLIERS = """
INSERT INTO supplier (code, name, lead_time_days) SELECT 'SUP-' || g, 'Supplier ' || g, 7 FROM generate_series(1, 5) g;
INSERT INTO supplier_product (supplier_id, product_id, supplier_sku, unit_cost, currency, lead_time_days,
                              min_order_quantity, preferred)
SELECT s.id, p.id, p.sku, 10, 'EUR', 7, 1, true
  FROM product p JOIN supplier s ON s.code = 'SUP-' || (p.id % 5 + 1);
"""
ORDERS_SQL = """
SELECT setseed(0.42);
CREATE TEMP TABLE history AS
SELECT g AS n, now() - random() * interval '{days} days' AS placed,
       (ARRAY['web', 'phone', 'email', 'chat', 'social', 'store', 'api'])[1 + floor(random() * 7)::int] AS channel,
       random() AS fate, 1 + floor(random() * 4)::int AS lines,
       CASE WHEN random() < 0.6 THEN 0 ELSE 1 + floor(power(random(), 3) * 6)::int END AS contacts
  FROM generate_series(1, {orders}) g;
INSERT INTO sales_order (channel, status, customer_name, customer_email, customer_phone, created_by, created_at)
SELECT channel,
       CASE WHEN placed > now() - interval '5 days' THEN 'confirmed' WHEN fate < 0.90 THEN 'delivered'
            WHEN fate < 0.95 THEN 'cancelled' ELSE 'backordered' END,
       'Customer ' || n, 'customer' || n || '@example.com', '+34 600 ' || lpad(n::text, 6, '0'), 'bench', placed
  FROM history ORDER BY placed;
CREATE TEMP TABLE placed AS
SELECT o.id, o.status, o.created_at, h.lines, h.contacts
  FROM sales_order o JOIN history h ON o.customer_email = 'customer' || h.n || '@example.com';
INSERT INTO order_line (order_id, line_no, product_id, quantity, backordered, backordered_at_placement, cancelled,
                        picked, packed, shipped, return_authorized, promised_date, first_promised_date,
                        promise_basis, promise_reason)
SELECT o.id, x.line_no, p.id, x.quantity,
       CASE WHEN o.status = 'backordered' THEN x.quantity ELSE 0 END,
       CASE WHEN o.status = 'backordered' OR x.late THEN x.quantity ELSE 0 END,
       CASE WHEN o.status = 'cancelled' THEN x.quantity ELSE 0 END,
       CASE WHEN o.status = 'delivered' THEN x.quantity ELSE 0 END,
       CASE WHEN o.status = 'delivered' THEN x.quantity ELSE 0 END,
       CASE WHEN o.status = 'delivered' THEN x.quantity ELSE 0 END,
       CASE WHEN o.status = 'delivered' AND x.returned THEN 1 ELSE 0 END,
       o.created_at::date + x.promise, o.created_at::date + x.promise - x.earlier, 'in_stock', 'in stock at BM-1'
  FROM placed o
  CROSS JOIN LATERAL (SELECT l AS line_no, 1 + floor(random() * 3)::int AS quantity,
                             1 + floor(random() * {products})::int AS product, random() < 0.08 AS late,
                             random() < 0.03 AS returned, 1 + floor(random() * 4)::int AS promise,
                             floor(random() * 2)::int AS earlier
                        FROM generate_series(1, o.lines) l) x
  JOIN product p ON p.sku = 'BN-' || lpad(x.product::text, 6, '0');
INSERT INTO shipment (order_id, carrier, tracking_number, lines, created_by, created_at)
SELECT o.id, 'DHL', 'T' || o.id,
       (SELECT jsonb_agg(jsonb_build_object('sku', p.sku, 'quantity', l.shipped))
          FROM order_line l JOIN product p ON p.id = l.product_id WHERE l.order_id = o.id),
       'bench', o.created_at + random() * interval '5 days'
  FROM placed o WHERE o.status = 'delivered';
UPDATE order_line l SET shipped_at = s.created_at FROM shipment s WHERE s.order_id = l.order_id AND l.shipped > 0;
INSERT INTO order_contact (order_id, channel, direction, summary, rep, created_at)
SELECT o.id, 'phone', 'inbound', 'where is my order?', 'bench', o.created_at + c * interval '1 day'
  FROM placed o CROSS JOIN LATERAL generate_series(1, o.contacts) c;
INSERT INTO event (type, subject, order_id, actor, data, created_at)
SELECT e.type, 'SO-' || o.id, o.id, 'bench', '{{}}', o.created_at + e.after * interval '1 hour'
  FROM placed o CROSS JOIN LATERAL (VALUES ('order.placed', 0), ('order.pick_listed', 2),
                                           ('order.status_changed', 2), ('order.packed', 20),
                                           ('order.status_changed', 20), ('order.shipped', 30),
                                           ('order.status_changed', 30), ('order.delivered', 80))
                                   AS e(type, after)
 WHERE o.status = 'delivered' OR e.type = 'order.placed';
INSERT INTO event (type, subject, order_id, actor, data, created_at)
SELECT 'order.pack_mismatch', 'SO-' || o.id, o.id, 'bench', '{{}}', o.created_at + interval '19 hours'
  FROM placed o WHERE o.status = 'delivered' AND random() < 0.01;
INSERT INTO pick_list (warehouse_id, status, created_by, created_at, completed_at)
SELECT w.id, 'completed', 'bench', d, d + interval '4 hours'
  FROM generate_series(now() - interval '{days} days', now(), interval '1 day') d CROSS JOIN warehouse w;
INSERT INTO pick_list_line (pick_list_id, position, order_line_id, product_id, location_id, quantity, picked, short)
SELECT pl.id, row_number() OVER (PARTITION BY pl.id ORDER BY l.id), l.id, l.product_id, loc.id, l.quantity,
       CASE WHEN s.short THEN l.quantity - 1 ELSE l.quantity END, CASE WHEN s.short THEN 1 ELSE 0 END
  FROM placed o JOIN order_line l ON l.order_id = o.id
  CROSS JOIN LATERAL (SELECT random() < 0.01 AS short) s
  JOIN warehouse w ON w.code = 'BM-1'
  JOIN location loc ON loc.warehouse_id = w.id AND loc.code = '{bin}'
  JOIN pick_list pl ON pl.warehouse_id = w.id AND pl.created_at::date = (o.created_at + interval '1 day')::date
 WHERE o.status = 'delivered';
INSERT INTO repair_order (product_id, warehouse_id, quantity, customer_name, customer_email, problem, status,
                          repair_days, promise_basis, promise_reason, created_by, created_at, completed_at)
SELECT 1 + floor(random() * {products})::int, (SELECT id FROM warehouse WHERE code = 'BM-1'), 1, 'Walk-in',
       'walkin@example.com', 'broken', 'completed', 2, 'in_stock', 'repair takes 2 days', 'bench', t,
       t + random() * interval '6 days'
  FROM (SELECT now() - random() * interval '{days} days' AS t FROM generate_series(1, 2000)) r;
"""


async def build_history(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(SUPPLIERS)
        await connection.execute(ORDERS_SQL.format(days=DAYS, orders=ORDERS, products=PRODUCTS, bin=dataset.BIN))
        await connection.execute("VACUUM ANALYZE")
        counts = {}
        for table in ("sales_order", "order_line", "shipment", "order_contact", "event", "pick_list_line",
                      "repair_order"):
            counts[table] = await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
        return counts
    finally:
        await connection.close()


async def time_figures(database_url: str, key: str) -> list[tuple[str, float, float]]:
    app = create_app(Settings(log_level="WARNING", access_log=False, worker_in_serve=False),
                     database_url=database_url)
    today = date.today()
    windows = [
        ("30 days, every channel", f"from={today - timedelta(days=29)}&to={today}"),
        ("30 days, channel=phone", f"from={today - timedelta(days=29)}&to={today}&channel=phone"),
        ("366 days, every channel", f"from={today - timedelta(days=365)}&to={today}"),
        ("366 days, channel=phone", f"from={today - timedelta(days=365)}&to={today}&channel=phone"),
    ]
    timings = []
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench",
            headers={"Authorization": f"Bearer {key}"}) as client:
        for label, query in windows:
            seconds = []
            for _ in range(RUNS):
                started = time.perf_counter()
                response = await client.get(f"/api/v1/metrics/service?{query}")
                seconds.append(time.perf_counter() - started)
                response.raise_for_status()
            figures = response.json()
            timings.append((label, statistics.median(seconds), min(seconds)))
            print(f"  {label:26} median {statistics.median(seconds) * 1000:7.1f} ms  best {min(seconds) * 1000:7.1f} ms"
                  f"  (fill rate {figures['fill_rate']['rate']}, lines shipped "
                  f"{figures['on_time_shipment']['denominator']}, open backorders {figures['open_backorders']['lines']})",
                  flush=True)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.figures", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="a local PostgreSQL server (default: an embedded one)")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    server = database.open_server(args.database_url)
    try:
        print(f"database {server.database} ({'embedded' if server.embedded else server.url})", flush=True)
        upgrade(server.database_url)
        key = asyncio.run(dataset.create_key_and_warehouses(server.database_url))
        started = time.perf_counter()
        asyncio.run(dataset.bulk_load(server.database_url, PRODUCTS, "HOT-1"))
        counts = asyncio.run(build_history(server.database_url))
        print(f"history built in {time.perf_counter() - started:.0f} s: "
              + ", ".join(f"{table} {count:,}" for table, count in counts.items()), flush=True)
        asyncio.run(time_figures(server.database_url, key))
    finally:
        if not args.keep_database:
            asyncio.run(database.drop_database(server))
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
