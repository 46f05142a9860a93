"""Returns (RMAs): authorize, receive into quarantine, inspect per unit, replace, refund (DOMAIN.md section 4).

Ideas taken from how others do it and from what went wrong for them: the returnable quantity is claimed
on the order line by one conditional update (ERPNext #34019 and Medusa #16823 lost races with a
read-sum-compare); a return line names its order line, never only a SKU (ERPNext #20100); received goods
go to quarantine and only an inspection restocks them (Medusa and WooCommerce #20822 made them sellable at
once); a replacement is an order placed through the same placement path, so it reserves and is promised
honestly (Medusa PR #11735, Saleor's draft replacements); refunds are capped cumulatively by one
conditional update on the return (Medusa PR #8385, Saleor #19645), append-only (OCA/rma's deleted credit
notes made money refundable again), and idempotent like every POST.

Lock order, as everywhere: the products' stock levels first, then orders, then the return and its lines.
"""

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import bus, events
from erp.auth import Principal, same_identity
from erp.concurrency import IfMatch
from erp.db import first_or_404
from erp.errors import Conflict, Forbidden, InvalidRequest, InvalidTransition
from erp.inventory import catalogue, ledger
from erp.inventory.messages import StockAdded
from erp.orders import cancellation, lines
from erp.orders.schemas import CancelRequest
from erp.returns import repairs, replacements
from erp.returns.cases import SET_REFUNDABLE, SET_STATUS, lines_of, lock, refresh_status
from erp.returns.schemas import RefundCreate, ReturnClose, ReturnCreate, ReturnInspect, ReturnReceive
from erp.suppliers import scorecard


class NotReturnable(Conflict):
    code, title = "not_returnable", "More than can be returned"


class OverReceipt(Conflict):
    code, title = "over_receipt", "More than authorized"


class RefundNotAllowed(Conflict):
    code, title = "refund_not_allowed", "Refund not allowed"


ORDER = text(
    "SELECT id, number, channel, customer_name, customer_email, customer_phone, ship_to, currency"
    " FROM sales_order WHERE number = :n"
)
ORDER_LINES = text(
    "SELECT l.id, l.product_id, p.sku, l.shipped, l.return_authorized, l.unit_price FROM order_line l"
    " JOIN product p ON p.id = l.product_id WHERE l.order_id = :o"
)
# The warehouse an order's units were picked in (the first by priority, if several).
SHIPPED_FROM = text(
    "SELECT loc.warehouse_id FROM pick_list_line p JOIN location loc ON loc.id = p.location_id"
    " JOIN warehouse w ON w.id = loc.warehouse_id JOIN order_line l ON l.id = p.order_line_id"
    " WHERE l.order_id = :o AND p.picked > 0 ORDER BY w.priority, w.id LIMIT 1"
)
FIRST_WAREHOUSE = text("SELECT id FROM warehouse ORDER BY priority, id LIMIT 1")
INSERT_RETURN = text(
    "INSERT INTO return_authorization (order_id, warehouse_id, resolution, advance_replacement, currency, notes,"
    " created_by) VALUES (:o, :w, :resolution, :advance, :currency, :notes, :actor) RETURNING id, number"
)
INSERT_LINE = text(
    "INSERT INTO return_line (return_id, line_no, order_line_id, product_id, reason, quantity, unit_price)"
    " VALUES (:r, :n, :ol, :p, :reason, :q, :price)"
)
RETURN_PRODUCTS = text(
    "SELECT l.product_id FROM return_line l JOIN return_authorization r ON r.id = l.return_id WHERE r.number = :n"
)
RECEIVE_UNITS = text(
    "UPDATE return_line SET received = received + :q,"
    " refundable = refundable + CASE WHEN :refund THEN :q ELSE 0 END"
    " WHERE id = :id AND received + cancelled + :q <= quantity RETURNING id"
)
INSERT_RECEIPT = text(
    "INSERT INTO return_receipt (return_line_id, quantity, received_by, received_by_key_id, received_by_person_id)"
    " VALUES (:l, :q, :a, :k, :p)"
)
RECEIVERS = text(
    "SELECT DISTINCT c.received_by_key_id, c.received_by_person_id FROM return_receipt c JOIN return_line l ON l.id = c.return_line_id"
    " WHERE l.return_id = :r"
)
INSPECT_UNITS = text("""
    UPDATE return_line SET restocked = restocked + :restock, repaired = repaired + :repair,
           scrapped = scrapped + :scrap, returned_to_supplier = returned_to_supplier + :rts
     WHERE id = :id AND restocked + repaired + scrapped + returned_to_supplier + :restock + :repair + :scrap + :rts
                        <= received
    RETURNING id
""")
INSERT_INSPECTION = text(
    "INSERT INTO return_inspection (return_line_id, restock, repair, scrap, return_to_supplier, notes, inspected_by,"
    " inspected_by_key_id, inspected_by_person_id) VALUES (:l, :restock, :repair, :scrap, :rts, :notes, :a, :k, :p)"
)
ADD_REPLACED = text("UPDATE return_line SET replaced = replaced + :q WHERE id = :id")
REFUND = text("""
    UPDATE return_authorization SET refunded_amount = refunded_amount + :amount, version = version + 1,
           updated_at = now()
     WHERE id = :r AND refunded_amount + :amount <= refundable_amount
    RETURNING refundable_amount - refunded_amount AS left
""")
INSERT_REFUND = text(
    "INSERT INTO refund (return_id, amount, currency, method, reference, created_by)"
    " VALUES (:r, :amount, :currency, :method, :reference, :actor)"
)
NOTHING_REFUNDABLE = text("UPDATE return_line SET refundable = 0 WHERE return_id = :r")
CANCEL_EXPECTED = text("UPDATE return_line SET cancelled = quantity - received WHERE id = :id")
UNREPLACE = text("UPDATE return_line SET replaced = replaced - :q WHERE id = :id")
REPLACEMENTS_OF = text(
    "SELECT o.number FROM replacement x JOIN sales_order o ON o.id = x.order_id"
    " WHERE x.return_id = :r AND x.repair_order_id IS NULL ORDER BY o.id"
)


# --- authorizing ------------------------------------------------------------------------------------


async def authorize(session: AsyncSession, data: ReturnCreate, actor: Principal, today: date) -> tuple[int, str]:
    """Authorize the return of shipped units; with an advance replacement, place it now. Returns (id, number)."""
    order = await first_or_404(session, ORDER, {"n": data.order}, missing=f"No order {data.order}.")
    by_sku = {row.sku: row for row in (await session.execute(ORDER_LINES, {"o": order.id})).all()}
    missing = [line.sku for line in data.lines if line.sku not in by_sku]
    if missing:
        raise InvalidRequest(f"Order {data.order} has no line for {', '.join(missing)}.")
    if data.warehouse is not None:
        warehouse_id = (await catalogue.get_warehouse(session, data.warehouse)).id
    else:
        warehouse_id = ((await session.execute(SHIPPED_FROM, {"o": order.id})).scalar()
                        or (await session.execute(FIRST_WAREHOUSE)).scalar_one())
    if data.advance_replacement:
        # The replacement reserves stock in this transaction: the products' locks come first.
        await ledger.lock_products_everywhere(session, [by_sku[line.sku].product_id for line in data.lines])
    for line in data.lines:
        row = by_sku[line.sku]
        if not await lines.claim_for_return(session, row.id, line.quantity):
            left = (await session.execute(ORDER_LINES, {"o": order.id})).all()
            now = next(r for r in left if r.id == row.id)
            raise NotReturnable(
                f"{line.sku}: {now.shipped} shipped and {now.return_authorized} already on returns; at most "
                f"{now.shipped - now.return_authorized} more can be returned, not {line.quantity}.",
                extra={"sku": line.sku, "returnable": now.shipped - now.return_authorized})
    created = (await session.execute(INSERT_RETURN, {
        "o": order.id, "w": warehouse_id, "resolution": data.resolution, "advance": data.advance_replacement,
        "currency": order.currency, "notes": data.notes, "actor": actor.name})).one()
    await session.execute(INSERT_LINE, [
        {"r": created.id, "n": n, "ol": by_sku[line.sku].id, "p": by_sku[line.sku].product_id, "reason": line.reason,
         "q": line.quantity, "price": by_sku[line.sku].unit_price} for n, line in enumerate(data.lines, 1)])
    await events.record(session, "return.authorized", created.number, actor.name, order_id=order.id, data={
        "order": order.number, "resolution": data.resolution, "advance_replacement": data.advance_replacement,
        "lines": [line.model_dump() for line in data.lines]})
    if data.advance_replacement:
        ret = await lock(session, created.number)
        await _replace(session, ret, {row.id: row.quantity for row in await lines_of(session, ret.id)}, actor, today)
    return created.id, created.number


# --- receiving --------------------------------------------------------------------------------------


async def receive(session: AsyncSession, number: str, data: ReturnReceive, actor: Principal, today: date,
                  expected: IfMatch | None = None) -> None:
    """Goods in: from the customer into the warehouse's quarantine, never straight to sellable stock.
    Fewer than authorized is normal (the rest stays expected); more is refused."""
    await _lock_products(session, number)
    ret = await lock(session, number)
    if expected is not None:
        expected.check(ret.version, f"Return {number}")
    if ret.status not in ("authorized", "received", "inspected"):
        raise InvalidTransition(f"Return {number} is {ret.status}; nothing more can be received.")
    rows = await lines_of(session, ret.id)
    by_sku = {row.sku: row for row in rows}
    if data.lines is None:
        wanted = {row.sku: row.quantity - row.received for row in rows if row.quantity > row.received}
        if not wanted:
            raise InvalidTransition(f"Return {number} is {ret.status}: every authorized unit was received.")
    else:
        wanted = {}
        for item in data.lines:
            if item.sku not in by_sku:
                raise InvalidRequest(f"Return {number} has no line for {item.sku}.")
            wanted[item.sku] = item.quantity
    customer = await catalogue.location_of_type(session, ret.warehouse_id, "customer")
    quarantine = await catalogue.location_of_type(session, ret.warehouse_id, "quarantine")
    arrived: dict[int, int] = {}
    for sku, quantity in wanted.items():
        row = by_sku[sku]
        refund = ret.resolution == "refund"
        if (await session.execute(RECEIVE_UNITS, {"q": quantity, "refund": refund, "id": row.id})).first() is None:
            raise OverReceipt(f"{sku}: {row.received} of {row.quantity} authorized units already received; "
                              f"{quantity} more is more than authorized.")
        await ledger.record_move(session, product_id=row.product_id, from_location_id=customer.id,
                                 to_location_id=quarantine.id, quantity=quantity, reason="return_receipt",
                                 reference=number, actor=actor.name)
        await lines.add_returned(session, row.order_line_id, quantity)
        await session.execute(INSERT_RECEIPT, {"l": row.id, "q": quantity, "a": actor.name, "k": actor.key_id,
                                               "p": actor.person_id})
        arrived[row.id] = quantity
    await session.execute(SET_REFUNDABLE, {"r": ret.id})
    await events.record(session, "return.received", number, actor.name, order_id=ret.order_id,
                        data={"lines": [{"sku": s, "quantity": q} for s, q in wanted.items()]})
    if ret.resolution == "replacement" and not ret.advance_replacement:
        await _replace(session, ret, arrived, actor, today)
    await refresh_status(session, ret.id, actor.name)


# --- inspecting -------------------------------------------------------------------------------------


async def inspect(session: AsyncSession, number: str, data: ReturnInspect, actor: Principal, today: date,
                  expected: IfMatch | None = None) -> None:
    """Decide each received unit: restock (to storage, where it fills backorders first), repair (a repair
    order), scrap, or return to the supplier (a supplier defect). A second person inspects: not someone
    who received these goods."""
    await _lock_products(session, number)
    ret = await lock(session, number)
    if expected is not None:
        expected.check(ret.version, f"Return {number}")
    if ret.status not in ("received", "inspected"):
        raise InvalidTransition(f"Return {number} is {ret.status}: only received goods can be inspected.")
    receivers = (await session.execute(RECEIVERS, {"r": ret.id})).all()
    if any(same_identity(actor, r.received_by_key_id, r.received_by_person_id) for r in receivers):
        raise Forbidden(f"{actor.name} received these goods; a second person must inspect them.")
    by_sku = {row.sku: row for row in await lines_of(session, ret.id)}
    quarantine = await catalogue.location_of_type(session, ret.warehouse_id, "quarantine")
    restocked = []
    for item in data.lines:
        row = by_sku.get(item.sku)
        if row is None:
            raise InvalidRequest(f"Return {number} has no line for {item.sku}.")
        if ret.resolution == "repair" and (item.restock or item.scrap or item.return_to_supplier):
            raise InvalidRequest(f"{item.sku}: the customer chose a repair, so every unit goes to repair; a unit "
                                 "that cannot be repaired is marked unrepairable on its repair order.")
        decided = item.restock + item.repair + item.scrap + item.return_to_supplier
        params = {"restock": item.restock, "repair": item.repair, "scrap": item.scrap, "rts": item.return_to_supplier}
        if (await session.execute(INSPECT_UNITS, {**params, "id": row.id})).first() is None:
            open_ = row.received - row.restocked - row.repaired - row.scrapped - row.returned_to_supplier
            raise InvalidRequest(f"{item.sku}: {open_} received units await inspection; {decided} were decided.")
        await session.execute(INSERT_INSPECTION, {**params, "l": row.id, "notes": data.notes, "a": actor.name,
                                                  "k": actor.key_id, "p": actor.person_id})
        move = {"product_id": row.product_id, "from_location_id": quarantine.id, "reference": number,
                "actor": actor.name}
        if item.restock:
            bin_id = await catalogue.putaway_bin(session, ret.warehouse_id, row.product_id, item.location)
            await ledger.record_move(session, **move, to_location_id=bin_id, quantity=item.restock,
                                     reason="return_restocked")
            restocked.append(row.product_id)
        if item.scrap:
            scrap = await catalogue.location_of_type(session, ret.warehouse_id, "scrap")
            await ledger.record_move(session, **move, to_location_id=scrap.id, quantity=item.scrap,
                                     reason="return_scrapped")
        if item.return_to_supplier:
            supplier = await catalogue.location_of_type(session, ret.warehouse_id, "supplier")
            await ledger.record_move(session, **move, to_location_id=supplier.id, quantity=item.return_to_supplier,
                                     reason="return_to_supplier")
        # A defect of the supplier's: units sent back to it, and units returned as defective that really were
        # (not restocked as fine).
        defects = item.return_to_supplier + (item.repair + item.scrap if row.reason == "defective" else 0)
        if defects:
            await scorecard.record_defect(session, row.product_id, defects, row.reason, number)
        if item.repair:
            await repairs.open_for_return(session, ret, row, item.repair, ships_to_customer=ret.resolution == "repair",
                                          actor=actor, today=today)
    await events.record(session, "return.inspected", number, actor.name, order_id=ret.order_id, data={
        "lines": [item.model_dump(exclude={"location"}) for item in data.lines], "notes": data.notes})
    await refresh_status(session, ret.id, actor.name)
    if restocked:
        await bus.publish(session, StockAdded(tuple(sorted(set(restocked))), actor.name))


# --- replacing and refunding ------------------------------------------------------------------------


async def _replace(session: AsyncSession, ret: Any, units: dict[int, int], actor: Principal, today: date) -> str:
    """Place a replacement order for `units` (return line id -> quantity): it reserves and is promised
    like any order, at zero price."""
    rows = {row.id: row for row in await lines_of(session, ret.id)}
    number = await replacements.place(session, [(rows[i].sku, q) for i, q in units.items() if q], actor, today,
                                      order_id=ret.order_id, return_id=ret.id)
    for line_id, quantity in units.items():
        await session.execute(ADD_REPLACED, {"q": quantity, "id": line_id})
    await events.record(session, "return.replacement_placed", ret.number, actor.name, order_id=ret.order_id,
                        data={"order": number, "lines": [{"sku": rows[i].sku, "quantity": q} for i, q in units.items()]})
    return number


async def refund(session: AsyncSession, number: str, data: RefundCreate, actor: Principal,
                 expected: IfMatch | None = None) -> None:
    """Record money given back: never more than was paid for the units that may be refunded, less what was
    refunded before, also when refunds race (one conditional update on the return)."""
    ret = await lock(session, number)
    if expected is not None:
        expected.check(ret.version, f"Return {number}")
    if ret.status in ("rejected", "cancelled"):
        raise InvalidTransition(f"Return {number} is {ret.status}; nothing can be refunded.")
    if ret.currency is None:
        raise RefundNotAllowed(f"Order {ret.order_number} recorded no prices, so nothing can be refunded by amount.")
    if data.currency != ret.currency:
        raise InvalidRequest(f"Return {number} is refunded in {ret.currency}, the order's currency, not {data.currency}.")
    rows = await lines_of(session, ret.id)
    unpriced = [row.sku for row in rows if row.refundable and row.unit_price is None]
    if unpriced:
        raise RefundNotAllowed(f"{', '.join(unpriced)}: the order recorded no unit_price, so it cannot be refunded by "
                               "amount.")
    left = (await session.execute(REFUND, {"amount": data.amount, "r": ret.id})).first()
    if left is None:
        available = ret.refundable_amount - ret.refunded_amount
        why = ("no units may be refunded yet: refunds follow received units of a refund return, or units found "
               "unrepairable and refunded" if ret.refundable_amount == 0 else
               f"{_plain(ret.refunded_amount)} of {_plain(ret.refundable_amount)} {ret.currency} already refunded; "
               f"at most {_plain(available)} more")
        raise RefundNotAllowed(f"A refund of {_plain(data.amount)} {data.currency} on {number} is refused: {why}.",
                               extra={"refundable": _plain(available)})
    await session.execute(INSERT_REFUND, {"r": ret.id, "amount": data.amount, "currency": data.currency,
                                          "method": data.method, "reference": data.reference, "actor": actor.name})
    await events.record(session, "return.refunded", number, actor.name, order_id=ret.order_id, data={
        "amount": _plain(data.amount), "currency": data.currency, "method": data.method, "left": _plain(left.left)})
    await refresh_status(session, ret.id, actor.name)


# --- cancelling and rejecting -----------------------------------------------------------------------


async def cancel(session: AsyncSession, number: str, data: ReturnClose, actor: Principal, today: date,
                 expected: IfMatch | None = None) -> None:
    """Stop expecting what has not arrived: with nothing received the return is cancelled; otherwise only
    the units still expected are. An advance replacement gives up what is no longer covered, if not picked."""
    await _lock_products(session, number)
    ret = await lock(session, number)
    if expected is not None:
        expected.check(ret.version, f"Return {number}")
    if ret.status not in ("authorized", "received", "inspected"):
        raise InvalidTransition(f"Return {number} is {ret.status}; it cannot be cancelled.")
    rows = await lines_of(session, ret.id)
    expected = {row.id: row.quantity - row.cancelled - row.received for row in rows}
    if not any(expected.values()):
        raise InvalidTransition(f"Return {number} is {ret.status}: every authorized unit arrived; nothing is left "
                                "to cancel.")
    await _take_back_replacements(session, ret, rows, {row.id: row.received for row in rows}, actor, today)
    for row in rows:
        if expected[row.id]:
            await lines.unclaim_for_return(session, row.order_line_id, expected[row.id])
            await session.execute(CANCEL_EXPECTED, {"id": row.id})
    if all(row.received == 0 for row in rows):
        await session.execute(SET_STATUS, {"s": "cancelled", "r": ret.id})
    await events.record(session, "return.cancelled", number, actor.name, order_id=ret.order_id, data={
        "reason": data.reason,
        "lines": [{"sku": row.sku, "quantity": expected[row.id]} for row in rows if expected[row.id]]})
    await refresh_status(session, ret.id, actor.name)


async def reject(session: AsyncSession, number: str, data: ReturnClose, actor: Principal, today: date,
                 expected: IfMatch | None = None) -> None:
    """Refuse the claim before any inspection decided on the goods: units that arrived go back to the
    customer, nothing stays authorized, replacements not yet picked are cancelled."""
    await _lock_products(session, number)
    ret = await lock(session, number)
    if expected is not None:
        expected.check(ret.version, f"Return {number}")
    if ret.status not in ("authorized", "received"):
        raise InvalidTransition(f"Return {number} is {ret.status}; only a return not yet inspected can be rejected.")
    rows = await lines_of(session, ret.id)
    if any(row.restocked + row.repaired + row.scrapped + row.returned_to_supplier for row in rows):
        raise InvalidTransition(f"Return {number} is {ret.status}: some units were already inspected.")
    if ret.refunded_amount > 0:
        raise InvalidTransition(f"Return {number} was refunded {_plain(ret.refunded_amount)} {ret.currency}; it "
                                "cannot be rejected.")
    await _take_back_replacements(session, ret, rows, {row.id: 0 for row in rows}, actor, today)
    customer = await catalogue.location_of_type(session, ret.warehouse_id, "customer")
    quarantine = await catalogue.location_of_type(session, ret.warehouse_id, "quarantine")
    for row in rows:
        if row.received:
            await ledger.record_move(session, product_id=row.product_id, from_location_id=quarantine.id,
                                     to_location_id=customer.id, quantity=row.received, reason="return_rejected",
                                     reference=number, actor=actor.name)
            await lines.add_returned(session, row.order_line_id, -row.received)
        await lines.unclaim_for_return(session, row.order_line_id, row.quantity - row.cancelled)
    await session.execute(NOTHING_REFUNDABLE, {"r": ret.id})
    await session.execute(SET_REFUNDABLE, {"r": ret.id})
    await session.execute(SET_STATUS, {"s": "rejected", "r": ret.id})
    await events.record(session, "return.rejected", number, actor.name, order_id=ret.order_id,
                        data={"reason": data.reason, "sent_back": sum(row.received for row in rows)})


async def _take_back_replacements(session: AsyncSession, ret: Any, rows: list[Any], keep: dict[int, int],
                                  actor: Principal, today: date) -> None:
    """Shrink the return's replacement orders to `keep` units per return line, cancelling units not yet
    picked; 409 if what must go was picked or shipped already."""
    numbers = (await session.execute(REPLACEMENTS_OF, {"r": ret.id})).scalars().all()
    for row in rows:
        excess = row.replaced - keep[row.id]
        for replacement in numbers:
            take = min(excess, await cancellation.cancellable(session, replacement, row.sku))
            if take > 0:
                await cancellation.cancel(session, replacement, CancelRequest.model_validate(
                    {"lines": [{"sku": row.sku, "quantity": take}], "reason": f"{ret.number} closed"}), actor, today)
                await session.execute(UNREPLACE, {"q": take, "id": row.id})
                excess -= take
        if excess > 0:
            raise InvalidTransition(f"{row.sku}: the replacement for {ret.number} is already picked or shipped; take "
                                    "it back before closing the return.")


# --- helpers ----------------------------------------------------------------------------------------


async def _lock_products(session: AsyncSession, number: str) -> None:
    products = (await session.execute(RETURN_PRODUCTS, {"n": number})).scalars().all()
    await ledger.lock_products_everywhere(session, products)


def _plain(amount: Decimal) -> str:
    return format(Decimal(amount).normalize(), "f")
