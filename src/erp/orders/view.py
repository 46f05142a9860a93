"""The order status view (DOMAIN.md section 6): everything a rep needs, read in one query."""

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.db import Coalesced, HotStatement
from erp.inventory.reservations import ORDER_LINE, holdings
from erp.orders.lines import listed
from erp.orders.schemas import (
    AllocationOut,
    CustomerOut,
    OrderLineOut,
    OrderOut,
    ShipmentOut,
    TimelineEntry,
)
from erp.orders.status import LineState, line_state_text, status_text

VIEW_SQL = f"""
SELECT o.id, o.number, o.status, o.channel, o.customer_name, o.customer_email, o.customer_phone, o.ship_to,
       o.external_ref, o.currency, o.created_at,
       (SELECT max(e.id) FROM event e WHERE e.order_id = o.id) AS version,
       (SELECT count(*) FROM order_contact c WHERE c.order_id = o.id) AS touches,
       (SELECT coalesce(json_agg(json_build_object(
            'line_no', l.line_no, 'sku', p.sku, 'name', p.name, 'quantity', l.quantity, 'cancelled', l.cancelled,
            'backordered', l.backordered, 'picked', l.picked, 'packed', l.packed, 'shipped', l.shipped,
            'returned', l.returned, 'unit_price', l.unit_price::text, 'promised_date', l.promised_date,
            'first_promised_date', l.first_promised_date, 'promise_basis', l.promise_basis,
            'reason', l.promise_reason,
            'listed', {listed('l.id')},
            'allocations', (SELECT coalesce(json_agg(json_build_object('warehouse', w.code, 'reserved', h.quantity)
                                                     ORDER BY w.priority, w.id), '[]')
                              FROM {holdings(ORDER_LINE, owner_id='l.id')} h
                              JOIN warehouse w ON w.id = h.warehouse_id)
        ) ORDER BY l.line_no), '[]')
          FROM order_line l JOIN product p ON p.id = l.product_id WHERE l.order_id = o.id) AS lines,
       (SELECT coalesce(json_agg(json_build_object(
            'id', s.id, 'carrier', s.carrier, 'tracking_number', s.tracking_number, 'lines', s.lines,
            'shipped_at', s.created_at) ORDER BY s.id), '[]')
          FROM shipment s WHERE s.order_id = o.id) AS shipments,
       (SELECT coalesce(json_agg(json_build_object(
            'id', e.id, 'at', e.created_at, 'type', e.type, 'actor', e.actor, 'channel', e.channel,
            'data', e.data) ORDER BY e.id), '[]')
          FROM event e WHERE e.order_id = o.id) AS timeline{{extra}}
  FROM sales_order o WHERE o.number = :number
"""


def view_statement(*extra: str) -> HotStatement:
    """The order status view's one query, with `extra` columns (SQL over the order `o`) for a caller that
    shows more of the order's case in the same round trip."""
    return HotStatement(text(VIEW_SQL.replace("{extra}", "".join(f",\n       {column}" for column in extra))))


VIEW = view_statement()


def view_reads(*extra: str) -> Coalesced:
    """`view_statement(*extra)` for many orders in one query, for requests that come together."""
    sql = VIEW_SQL.replace("o.number = :number", "o.number = ANY(:numbers)")
    return Coalesced(HotStatement(text(sql.replace("{extra}", "".join(f",\n       {column}" for column in extra)))),
                     "numbers", "number")

BASIS_RANK = {"in_stock": 0, "incoming_supply": 1, "supplier_lead_time": 2, "cannot_promise": 3}


def describe(event: dict[str, Any]) -> str:
    """One sentence for a timeline entry."""
    data = event["data"] or {}
    match event["type"]:
        case "order.placed":
            return "Order placed: " + ", ".join(f"{x['quantity']} x {x['sku']}" for x in data.get("lines", []))
        case "order.status_changed":
            return f"Status changed from {data.get('from')} to {data.get('to')}"
        case "order.cancelled":
            return "Cancelled: " + ", ".join(f"{x['quantity']} x {x['sku']}" for x in data.get("lines", []))
        case "order.contact_logged":
            return f"Contact ({data.get('direction')}): {data.get('summary')}"
        case "order.pick_listed":
            return f"Put on pick list {data.get('pick_list')} at {data.get('warehouse')}"
        case "order.picked":
            return f"Picked {data.get('quantity')} x {data.get('sku')} from {data.get('location')}"
        case "order.short_picked":
            return (f"Short pick: {data.get('missing')} x {data.get('sku')} missing at {data.get('location')}; "
                    "recorded as a stock discrepancy")
        case "order.reallocated":
            where = ", ".join(f"{q} at {w}" for w, q in (data.get("reserved") or {}).items()) or "nothing in stock"
            back = f"; {data['backordered']} backordered" if data.get("backordered") else ""
            return f"Re-reserved after {data.get('why')}: {where}{back}"
        case "order.backorder_filled":
            where = ", ".join(f"{q} at {w}" for w, q in (data.get("reserved") or {}).items())
            return f"Backorder filled: {where} reserved"
        case "order.packed":
            return "Verified and packed: " + ", ".join(f"{x['quantity']} x {x['sku']}" for x in data.get("items", []))
        case "order.pack_mismatch":
            return "Packing blocked, the scan did not match the picks: " + "; ".join(data.get("problems", []))
        case "order.shipped":
            return f"Shipped with {data.get('carrier')}, tracking {data.get('tracking_number')}"
        case "order.repromised":
            before, after = data.get("from") or {}, data.get("to") or {}
            return (f"Promise for {data.get('sku')} changed from {before.get('date') or 'no date'} "
                    f"to {after.get('date') or 'no date'}: {after.get('reason')}")
        case "order.delivered":
            return "Delivered to the customer"
        case other:
            return other


def _timeline_entry(event: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(id=event["id"], at=event["at"], type=event["type"], actor=event["actor"],
                         channel=event["channel"], summary=describe(event), data=event["data"] or {})


def order_promise(lines: list[OrderLineOut], states: list[LineState]) -> tuple[date | None, str, str]:
    """The whole order's promise: its latest open line, and the least certain basis among them."""
    open_lines = [line for line, state in zip(lines, states, strict=True) if state.active > state.shipped]
    if not open_lines:
        return None, "in_stock", "nothing left to ship"
    worst = max(open_lines, key=lambda x: (BASIS_RANK[x.promise_basis], x.promised_date or date.max))
    if any(x.promised_date is None for x in open_lines):
        return None, worst.promise_basis, worst.reason
    return max(x.promised_date for x in open_lines), worst.promise_basis, worst.reason


def line_out(line: dict[str, Any]) -> tuple[OrderLineOut, LineState]:
    reserved = sum(a["reserved"] for a in line["allocations"])
    state = LineState(line["quantity"], line["cancelled"], line["backordered"], reserved, line["picked"],
                      line["packed"], line["shipped"], line.get("listed", 0))
    return OrderLineOut(
        line_no=line["line_no"], sku=line["sku"], name=line["name"], quantity=line["quantity"],
        reserved=reserved, backordered=line["backordered"], picked=line["picked"], packed=line["packed"],
        shipped=line["shipped"], cancelled=line["cancelled"], returned=line["returned"],
        unit_price=line["unit_price"], state=line_state_text(state), promised_date=line["promised_date"],
        first_promised_date=line["first_promised_date"],
        promise_basis=line["promise_basis"], reason=line["reason"],
        allocations=[AllocationOut(**a) for a in line["allocations"]],
    ), state


def assemble(order: Mapping[str, Any], lines: list[dict[str, Any]], shipments: list[dict[str, Any]], touches: int,
             timeline: list[dict[str, Any]], touch_threshold: int) -> OrderOut:
    built = [line_out(line) for line in lines]
    outs, states = [b[0] for b in built], [b[1] for b in built]
    promised, basis, reason = order_promise(outs, states)
    return OrderOut(
        number=order["number"], status=order["status"],
        status_text=status_text(order["status"], promised, reason, states), channel=order["channel"],
        customer=CustomerOut(name=order["customer_name"], email=order["customer_email"],
                             phone=order["customer_phone"]),
        ship_to=order["ship_to"], external_ref=order["external_ref"], currency=order["currency"],
        created_at=order["created_at"],
        promised_date=promised, promise_basis=basis, reason=reason, lines=outs,
        shipments=[ShipmentOut(**s) for s in shipments], touches=touches,
        needs_attention=touches > touch_threshold,
        timeline=[_timeline_entry(e) for e in timeline], version=order["version"],
    )


async def order_row(session: AsyncSession, number: str, statement: HotStatement = VIEW) -> Mapping[str, Any]:
    """The order's row of `statement` (VIEW or a `view_statement`); 404 when there is no such order."""
    return await statement.first_or_404(session, {"number": number}, missing=f"No order {number}.")


def view_of(order: Mapping[str, Any], touch_threshold: int) -> OrderOut:
    return assemble(order, order["lines"], order["shipments"], order["touches"], order["timeline"],
                    touch_threshold)


async def order_view(session: AsyncSession, number: str, touch_threshold: int = 3) -> OrderOut:
    return view_of(await order_row(session, number), touch_threshold)
