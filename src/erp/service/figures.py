"""The service figures of DOMAIN.md section 6 for a period and channel, each an aggregate query in SQL.

The period is `from` to `to`, whole days in UTC, both included; the channel is the order's. What each
figure counts (a rate is numerator / denominator, and null when the denominator is 0: no data is not 0 %):
- fill rate: lines of orders placed in the period / of those, lines with nothing backordered when the order
  was placed (`order_line.backordered_at_placement = 0`: fully reserved at order time).
- on-time shipment: lines whose shipping was completed in the period (every unit not cancelled shipped,
  the last of them on a day in the period: `order_line.shipped_at`) / of those, lines whose last unit shipped on or before the
  line's promised date (a line without a promised date is not on time).
- promise accuracy: the same lines / of those, lines whose last unit shipped on or before the date first
  promised when the order was placed (`first_promised_date`).
- daily: both of the above per day of the period (the day the line's last unit shipped).
- open backorders: now, whatever the period: order lines with units backordered, their units, and their
  age in days since the order was placed (buckets, oldest, average).
- touches: orders placed in the period; their contacts, whenever logged; the average per order; the orders
  with more contacts than the threshold (`ERP_TOUCH_THRESHOLD`); a histogram of orders by contacts.
- first-contact resolution: resolved orders placed in the period (shipped, delivered or cancelled: nothing
  left to do) / of those, orders with at most one contact.
- returns: units shipped on lines of orders placed in the period / of those, units on returns (authorized,
  not cancelled or rejected: `order_line.return_authorized`); overall, by product (the 50 with most units
  returned) and by the product's preferred supplier.
- repair turnaround: repair orders completed in the period (of orders in the channel when one is given;
  walk-ins without an order then do not count): count, average and longest days from opened to completed.
- pick accuracy: pick-list lines of orders placed in the period that were worked (picked or found short) /
  of those, lines picked in full; short lines and units. Pack verification: attempts on those orders
  (packs plus mismatches, `order.packed` and `order.pack_mismatch` events) / of those, packs that matched.
- supplier scores: every supplier's scorecard (`GET /suppliers/{code}/scorecard`) for the period: lines due
  in the period; the channel does not apply.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Date, String, TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.errors import FieldError, InvalidRequest
from erp.service.schemas import (
    AgeBucket,
    BackorderFigures,
    DailyShipping,
    PickFigures,
    Rate,
    RepairFigures,
    ReturnFigures,
    ReturnRate,
    ServiceFigures,
    TouchBucket,
    TouchFigures,
)
from erp.suppliers import scorecard

DEFAULT_DAYS = 30
MAX_DAYS = 366
RETURNS_BY_PRODUCT = 50
# (label, first day, last day or None) of an open backorder's age.
AGE_BUCKETS = (("0-7", 0, 7), ("8-14", 8, 14), ("15-30", 15, 30), ("31-60", 31, 60), ("61+", 61, None))


def planned_for_the_period(sql: str) -> TextClause:
    """A statement whose period and channel are written into the SQL when it runs, not sent as parameters
    (safe: they are a validated `date` and one of the channels). A prepared statement run five times gets a
    generic plan, which guesses a period of a few dozen orders: nested loops, 0.5 s instead of 0.14 s for a
    year of 100,000 orders (bench/figures.py); with the values in the SQL each period gets its own plan."""
    return text(sql).bindparams(*(bindparam(name, type_=kind, literal_execute=True)
                                  for name, kind in (("f", Date), ("t", Date), ("today", Date), ("ch", String))
                                  if re.search(rf":{name}\b", sql)))


# Orders placed in the period, in the channel (:ch null: every channel): the cohort most figures count.
PERIOD_ORDERS = """
    SELECT o.id, o.status FROM sales_order o
     WHERE o.created_at >= CAST(:f AS date) AND o.created_at < CAST(:t AS date) + 1
       AND (CAST(:ch AS text) IS NULL OR o.channel = :ch)
"""
# Per order of the period: its contacts, by bucket (0, 1, ... threshold, then more) and whether it is resolved.
TOUCHES = planned_for_the_period(f"""
    SELECT least(touches, :threshold + 1) AS bucket, status IN ('shipped', 'delivered', 'cancelled') AS resolved,
           count(*) AS orders, sum(touches) AS touches
      FROM (SELECT o.id, o.status, count(c.id) AS touches
              FROM ({PERIOD_ORDERS}) o LEFT JOIN order_contact c ON c.order_id = o.id
             GROUP BY o.id, o.status) t
     GROUP BY 1, 2
""")
# Lines whose last unit shipped in the period, by that day, with the promises they were held to.
SHIPPING_BY_DAY = planned_for_the_period("""
    WITH shipped AS (
        SELECT l.shipped_at::date AS day, l.promised_date, l.first_promised_date
          FROM order_line l
         WHERE l.shipped_at >= CAST(:f AS date) AND l.shipped_at < CAST(:t AS date) + 1
           AND l.shipped > 0 AND l.shipped = l.quantity - l.cancelled
           AND (CAST(:ch AS text) IS NULL OR l.order_id IN (SELECT id FROM sales_order WHERE channel = :ch))
    )
    SELECT d::date AS day, count(s.day) AS lines,
           count(*) FILTER (WHERE s.day <= s.promised_date) AS on_time,
           count(*) FILTER (WHERE s.day <= s.first_promised_date) AS by_first_promise
      FROM generate_series(CAST(:f AS date), CAST(:t AS date), interval '1 day') d
      LEFT JOIN shipped s ON s.day = d::date
     GROUP BY d ORDER BY d
""")
OPEN_BACKORDERS = planned_for_the_period("""
    SELECT count(*) AS lines, coalesce(sum(backordered), 0) AS units, max(age) AS oldest, avg(age) AS average
      FROM (SELECT l.backordered, CAST(:today AS date) - o.created_at::date AS age
              FROM order_line l JOIN sales_order o ON o.id = l.order_id
             WHERE l.backordered > 0 AND (CAST(:ch AS text) IS NULL OR o.channel = :ch)) b
""")
# Open backorder lines per age bucket (:starts are the buckets' first days, ascending).
BACKORDER_AGES = planned_for_the_period("""
    SELECT width_bucket(CAST(:today AS date) - o.created_at::date, CAST(:starts AS int[])) AS bucket,
           count(*) AS lines
      FROM order_line l JOIN sales_order o ON o.id = l.order_id
     WHERE l.backordered > 0 AND (CAST(:ch AS text) IS NULL OR o.channel = :ch)
     GROUP BY 1
""")
# One pass over the lines of orders placed in the period, per product: lines and lines filled at placement
# (fill rate), units shipped and units on returns. Then the totals, the products with most units returned,
# and the units per preferred supplier, as rows of one answer told apart by `kind`.
LINES = planned_for_the_period(f"""
    WITH per_product AS MATERIALIZED (
        SELECT l.product_id, count(*) AS lines, count(*) FILTER (WHERE l.backordered_at_placement = 0) AS filled,
               sum(l.shipped) AS shipped, sum(l.return_authorized) AS returned
          FROM ({PERIOD_ORDERS}) o JOIN order_line l ON l.order_id = o.id
         GROUP BY l.product_id
    )
    SELECT 'total' AS kind, NULL AS key, coalesce(sum(lines), 0) AS lines, coalesce(sum(filled), 0) AS filled,
           coalesce(sum(shipped), 0) AS shipped, coalesce(sum(returned), 0) AS returned
      FROM per_product
    UNION ALL
    (SELECT 'product', p.sku, r.lines, r.filled, r.shipped, r.returned
       FROM per_product r JOIN product p ON p.id = r.product_id
      WHERE r.returned > 0 ORDER BY r.returned DESC, p.sku LIMIT :n)
    UNION ALL
    (SELECT 'supplier', s.code, sum(r.lines), sum(r.filled), sum(r.shipped), sum(r.returned)
       FROM per_product r
       JOIN supplier_product sp ON sp.product_id = r.product_id AND sp.preferred
       JOIN supplier s ON s.id = sp.supplier_id
      WHERE r.shipped > 0
      GROUP BY s.code ORDER BY s.code)
""")
REPAIRS = planned_for_the_period("""
    SELECT count(*) AS completed,
           avg(extract(epoch FROM r.completed_at - r.created_at)) / 86400 AS average_days,
           max(extract(epoch FROM r.completed_at - r.created_at)) / 86400 AS longest_days
      FROM repair_order r LEFT JOIN sales_order o ON o.id = r.order_id
     WHERE r.completed_at >= CAST(:f AS date) AND r.completed_at < CAST(:t AS date) + 1
       AND (CAST(:ch AS text) IS NULL OR o.channel = :ch)
""")
PICKS = planned_for_the_period(f"""
    SELECT count(*) FILTER (WHERE p.picked + p.short > 0) AS worked,
           count(*) FILTER (WHERE p.picked + p.short > 0 AND p.short = 0) AS in_full,
           count(*) FILTER (WHERE p.short > 0) AS short_lines, coalesce(sum(p.short), 0) AS short_units
      FROM ({PERIOD_ORDERS}) o JOIN order_line l ON l.order_id = o.id
      JOIN pick_list_line p ON p.order_line_id = l.id
""")
PACKS = planned_for_the_period(f"""
    SELECT count(*) FILTER (WHERE e.type = 'order.packed') AS packed,
           count(*) FILTER (WHERE e.type = 'order.pack_mismatch') AS mismatches
      FROM ({PERIOD_ORDERS}) o JOIN event e ON e.order_id = o.id
     WHERE e.type IN ('order.packed', 'order.pack_mismatch')
""")


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date
    channel: str | None

    def params(self) -> dict[str, Any]:
        return {"f": self.start, "t": self.end, "ch": self.channel}


def period(start: date | None, end: date | None, channel: str | None, today: date) -> Period:
    """The period asked for: `to` defaults to today, `from` to DEFAULT_DAYS days ending on `to`; `from`
    after `to`, or more than MAX_DAYS days, is 422."""
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidRequest(f"from ({start}) is after to ({end}).",
                             errors=[FieldError(field="from", message="must not be after to", type="value_error")])
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise InvalidRequest(f"The period is {days} days; at most {MAX_DAYS}.",
                             errors=[FieldError(field="to", message=f"at most {MAX_DAYS} days after from",
                                                type="value_error")])
    return Period(start, end, channel)


def rate(numerator: Any, denominator: Any) -> Rate:
    numerator, denominator = int(numerator or 0), int(denominator or 0)
    return Rate(numerator=numerator, denominator=denominator,
                rate=round(numerator / denominator, 4) if denominator else None)


def _days(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


class LineTotals(NamedTuple):
    kind: str
    key: str | None
    lines: int
    filled: int
    shipped: int
    returned: int


def returned_of(row: LineTotals) -> ReturnRate:
    return ReturnRate(key=row.key or "", units_shipped=row.shipped, units_returned=row.returned,
                      rate=rate(row.returned, row.shipped).rate)


def touch_figures(rows: list[Any], threshold: int) -> tuple[TouchFigures, Rate]:
    """The touch figures and first-contact resolution from TOUCHES' rows (orders per bucket and resolution)."""
    buckets = dict.fromkeys(range(threshold + 2), 0)
    for row in rows:
        buckets[row.bucket] += row.orders
    orders, touches = sum(r.orders for r in rows), sum(r.touches for r in rows)
    resolved = sum(r.orders for r in rows if r.resolved)
    at_first_contact = sum(r.orders for r in rows if r.resolved and r.bucket <= 1)
    return TouchFigures(
        orders=orders, touches=touches, average_per_order=_days(touches / orders) if orders else None,
        threshold=threshold, orders_above_threshold=buckets[threshold + 1],
        histogram=[TouchBucket(touches=n, more=n > threshold, orders=count) for n, count in buckets.items()],
    ), rate(at_first_contact, resolved)


async def service_figures(session: AsyncSession, asked: Period, touch_threshold: int, today: date) -> ServiceFigures:
    params = asked.params()
    lines = [LineTotals(*row) for row in (await session.execute(LINES, {**params, "n": RETURNS_BY_PRODUCT})).all()]
    (total,) = [row for row in lines if row.kind == "total"]
    touches, first_contact = touch_figures(
        (await session.execute(TOUCHES, {**params, "threshold": touch_threshold})).all(), touch_threshold)
    daily = [DailyShipping(day=row.day, lines_shipped=row.lines, on_time=rate(row.on_time, row.lines),
                           promise_accuracy=rate(row.by_first_promise, row.lines))
             for row in (await session.execute(SHIPPING_BY_DAY, params)).all()]
    shipped = sum(d.lines_shipped for d in daily)
    backorders = (await session.execute(OPEN_BACKORDERS, {"today": today, "ch": asked.channel})).one()
    ages = dict((await session.execute(BACKORDER_AGES, {"today": today, "ch": asked.channel,
                                                        "starts": [b[1] for b in AGE_BUCKETS]})).all())
    repairs = (await session.execute(REPAIRS, params)).one()
    picks = (await session.execute(PICKS, params)).one()
    packs = (await session.execute(PACKS, params)).one()
    return ServiceFigures(
        period_from=asked.start, period_to=asked.end, channel=asked.channel,
        fill_rate=rate(total.filled, total.lines),
        on_time_shipment=rate(sum(d.on_time.numerator for d in daily), shipped),
        promise_accuracy=rate(sum(d.promise_accuracy.numerator for d in daily), shipped),
        open_backorders=BackorderFigures(
            lines=backorders.lines, units=backorders.units, oldest_days=backorders.oldest,
            average_age_days=_days(backorders.average),
            age_buckets=[AgeBucket(days=label, min_days=low, max_days=high, lines=ages.get(n, 0))
                         for n, (label, low, high) in enumerate(AGE_BUCKETS, 1)]),
        touches=touches,
        first_contact_resolution=first_contact,
        returns=ReturnFigures(
            overall=rate(total.returned, total.shipped),
            by_product=[returned_of(row) for row in lines if row.kind == "product"],
            by_supplier=[returned_of(row) for row in lines if row.kind == "supplier"]),
        repair_turnaround=RepairFigures(completed=repairs.completed, average_days=_days(repairs.average_days),
                                        longest_days=_days(repairs.longest_days)),
        pick_accuracy=PickFigures(
            picks_in_full=rate(picks.in_full, picks.worked), short_pick_lines=picks.short_lines,
            short_pick_units=picks.short_units,
            pack_verification=rate(packs.packed, packs.packed + packs.mismatches),
            pack_mismatches=packs.mismatches),
        supplier_scores=await scorecard.all_scorecards(session, asked.start, asked.end),
        daily=daily,
    )
