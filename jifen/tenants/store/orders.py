"""Store orders (积分兑换): a household redeems points for goods of its store.

Two-phase, like a pending transfer. Placing an order (a villager on the phone for their own
household, or the storekeeper at the counter) takes the goods from stock and reserves the points
(`ledger.reserve`); handing the goods over spends them (`ledger.settle(spend=True)`); cancelling,
or expiry after `ORDER_DAYS`, releases both (the goods back to stock as a `release` movement, the
points back to the household). Stock and available points never go below zero: the checks here
run under the row locks, and the database CHECKs stand behind them. The ledger's unique source key
lets an order be closed (spent or released) once only, whatever races.

Lock order, everywhere: the order counter (placing) or the order row (closing), then the stock
level rows in ascending catalog item id, then the household's balance row, then the audit chain
head (audit entries are written after the ledger). Services flush; the caller commits.
"""
from __future__ import annotations

import re
import secrets
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform import clock
from jifen.platform.audit.service import record_many
from jifen.platform.db import db, new_id, parse_uuid
from jifen.platform.errors import Conflict, Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.input import Text, Uuid, Whole, check, value
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize, may, scope_ids
from jifen.platform.roles.registry import register_scope_path, register_scope_where
from jifen.platform.tenancy import (
    current_tenant_id,
    register_url_object,
    tenant_get,
    tenant_get_or_404,
)
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.notifications.service import notify, register_messages
from jifen.tenants.points import ledger
from jifen.tenants.store.models import (
    COUNTER,
    ORDER_CANCELLED,
    ORDER_EXPIRED,
    ORDER_HANDED_OVER,
    ORDER_OPEN,
    ORDER_STATES,
    PHONE,
    CatalogItem,
    Order,
    OrderCounter,
    OrderLine,
    StockLevel,
    StockMovement,
    Store,
)
from jifen.tenants.store.service import LOW_STOCK, locked_level

register_url_object("order_id", Order)

ORDER_DAYS = 7  # an order not handed over by the end of its 7th day (placing day included) expires
MAX_QUANTITY = 99  # of one item in one line of an order (the API document's bound; repeats add up, as stock allows)
MAX_LINES = 30  # different items in one order
MAX_REASON = 300
PICKUP_DIGITS = 4  # said aloud or read off the phone at the counter; unique among the store's waiting orders
STATE_LABELS = {ORDER_OPEN: _l("Waiting for hand-over"), ORDER_HANDED_OVER: _l("Handed over"),
                ORDER_CANCELLED: _l("Cancelled"), ORDER_EXPIRED: _l("Expired")}

register_messages({
    "order_placed": lambda p: _("Order #%(number)s placed at %(store)s: %(points)s points are reserved until you "
                                "collect the goods.", **p),
    "order_handed_over": lambda p: _("Order #%(number)s handed over at %(store)s: %(points)s points spent.", **p),
    "order_cancelled": lambda p: _("Order #%(number)s was cancelled: %(points)s points are available again.", **p),
    "order_expired": lambda p: _("Order #%(number)s was not collected in time and expired: %(points)s points are "
                                 "available again.", **p),
})


# --- scope: an order lies in its store, its household and their villages ----------------------------

def order_path(order: Order) -> dict[str, set]:
    household = tenant_get(Household, order.household_id)
    store = tenant_get(Store, order.store_id)
    villages = {v for v in (household.village_id if household else None, store.village_id if store else None) if v}
    return {"store": {order.store_id}, "household": {order.household_id}, "village": villages}


register_scope_path(Order, order_path)
register_scope_where(Order, {
    "store": lambda ids: Order.store_id.in_(list(ids)),
    "household": lambda ids: Order.household_id.in_(list(ids)),
    "village": lambda ids: or_(Order.household_id.in_(select(Household.id).where(Household.village_id.in_(list(ids)))),
                               Order.store_id.in_(select(Store.id).where(Store.village_id.in_(list(ids)))))})


def serves(store: Store, household: Household) -> bool:
    """A village's store serves the village's households; a township store (no village) serves all."""
    return store.active and store.village_id in (None, household.village_id)


def stores_for(household: Household) -> list[Store]:
    """The open stores serving the household: its village's own first, then the township's."""
    stores = db.session.execute(select(Store).where(Store.active.is_(True), or_(
        Store.village_id == household.village_id, Store.village_id.is_(None)))).scalars().all()
    return sorted(stores, key=lambda s: (s.village_id is None, pinyin_key(s.name)))


def own_households(actor: Actor) -> list[Household]:
    """The active households a villager account stands for."""
    if actor.kind != "user" or "villager" not in actor.roles:
        return []
    ids = sorted(scope_ids(actor, "order.place", "household") or set(), key=str)
    if not ids:
        return []
    rows = db.session.execute(select(Household).where(Household.id.in_(ids), Household.status == ACTIVE)).scalars()
    return sorted(rows, key=lambda h: (h.door_plate, str(h.id)))


def keeper_stores(actor: Actor, action_name: str = "order.hand_over") -> list[Store] | None:
    """The stores the actor works in for `action_name` (None: every store, a township admin)."""
    ids = scope_ids(actor, action_name, "store")
    if ids is None:
        return None
    if not ids:
        return []
    stores = db.session.execute(select(Store).where(Store.id.in_(list(ids)))).scalars().all()
    return sorted(stores, key=lambda s: pinyin_key(s.name))


# --- input ----------------------------------------------------------------------------------------

def _reason(raw) -> str:
    """A cancellation's reason on one line."""
    return " ".join((value(Text(MAX_REASON), raw, "reason") or "").split())


def _lines(raw, errors: dict, conflicts: dict) -> list[tuple[CatalogItem, int]]:
    """[(item, quantity)] from [{"catalog_item_id", "quantity"}, …]; one line per item (repeats add
    up: each line's quantity is bounded, as the API document says, the sum only by the stock). Problems go to `lines` (what is ordered) and `quantity` (how many), and, for the page, to
    `quantity.<item id>`: the input's own to `errors`, an item not (any more) in the catalog to
    `conflicts`."""
    if not isinstance(raw, list) or not raw:
        errors["lines"] = [_("Choose at least one item.")]
        return []
    if len(raw) > MAX_LINES:
        errors["lines"] = [_("At most %(n)d different items in one order.", n=MAX_LINES)]
        return []
    wanted: dict = {}
    gone = _("An item of the order is not in the catalog (any more).")
    for row in raw:
        row = row if isinstance(row, dict) else {}
        item_id = check(Uuid(gone), row.get("catalog_item_id"), "lines", errors)
        if item_id is None:
            errors["lines"] = [gone]
            continue
        item = tenant_get(CatalogItem, item_id)
        if item is None or not item.active:
            conflicts["lines"] = [gone]
        quantity = check(Whole(1, MAX_QUANTITY), row.get("quantity"), "quantity", {})
        if quantity is None:
            message = (_("%(item)s: enter how many, a whole number from 1 to %(max)d.", item=item.name, max=MAX_QUANTITY)
                       if item is not None else _("Enter a number from %(low)d to %(high)d.", low=1, high=MAX_QUANTITY))
            errors.setdefault("quantity", []).append(message)
            errors[f"quantity.{item_id}"] = [message]
            continue
        if item is not None and item.active:
            wanted[item.id] = (item, wanted.get(item.id, (item, 0))[1] + quantity)
    return sorted(wanted.values(), key=lambda line: line[0].id)


def _household_for(actor: Actor, household_id) -> Household:
    """The household named in the request (an id, checked); a villager may leave it out for their
    own. Which households there are is the township's data: refusals are `InputConflict`."""
    if household_id is None:
        own = own_households(actor)
        if len(own) == 1:
            return own[0]
        raise InputConflict.field("household_id", _("Choose the household."))
    household = tenant_get(Household, household_id)
    if household is None:
        raise InputConflict.field("household_id", _("Choose a household of the township."))
    return household


def _store_for(household: Household, store_id) -> Store:
    if store_id is None:
        stores = stores_for(household)
        if not stores:
            raise InputConflict.field("store_id", _("No open points store serves this household's village."))
        return stores[0]
    store = tenant_get(Store, store_id)
    if store is None:
        raise InputConflict.field("store_id", _("Choose one of the township's stores."))
    return store


# --- placing --------------------------------------------------------------------------------------

def _next_number() -> int:
    """Lock the township's order counter (created at 0 if missing) and take the next number."""
    q = select(OrderCounter).with_for_update().execution_options(populate_existing=True)
    counter = db.session.execute(q).scalar_one_or_none()
    if counter is None:
        dialect = db.session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(OrderCounter)
        # raw insert: the tenant is bound explicitly (reviewed; see tenancy.py)
        db.session.execute(insert.values(tenant_id=current_tenant_id(), id=new_id(), last_number=0)
                           .on_conflict_do_nothing(index_elements=["tenant_id"]))
        counter = db.session.execute(q).scalar_one()
    counter.last_number += 1
    return counter.last_number


def _movement(actor: Actor, order: Order, item_id, kind: str, delta: int, after: int) -> StockMovement:
    return StockMovement(store_id=order.store_id, catalog_item_id=item_id, kind=kind, delta=delta,
                         quantity_after=after, note=f"#{order.number}", order_id=order.id,
                         actor_id=actor.id if actor.kind == "user" else None, actor_name=actor.name[:64])


def _take_stock(actor: Actor, order: Order, store: Store, lines: list[tuple[CatalogItem, int]]) -> list:
    """Lock the store's level rows of the order's items (ascending item id) and take the goods;
    every shortage is reported (field `quantity`), nothing is taken unless all are there."""
    errors: dict = {}
    levels = []
    for item, quantity in lines:
        level = locked_level(store, item, create=False)
        have = level.quantity if level else 0
        if have < quantity:
            message = (_("%(item)s is out of stock.", item=item.name) if have == 0 else
                       _("Only %(n)d of %(item)s left.", n=have, item=item.name))
            errors.setdefault("quantity", []).append(message)
            errors[f"quantity.{item.id}"] = [message]
        levels.append((item, quantity, level))
    if errors:
        raise InputConflict(_("Not enough in stock."), errors)
    movements = []
    for item, quantity, level in levels:
        level.quantity -= quantity
        movements.append(_movement(actor, order, item.id, "redemption", -quantity, level.quantity))
    db.session.add_all(movements)
    return movements


def snapshot(order: Order, lines: list[OrderLine] | None = None) -> dict:
    out = {"number": order.number, "store_id": str(order.store_id), "household_id": str(order.household_id),
           "state": order.state, "channel": order.channel, "total_points": order.total_points, "period": order.period}
    if lines is not None:
        out["lines"] = [{"catalog_item_id": str(li.catalog_item_id), "quantity": li.quantity,
                         "unit_points": li.unit_points} for li in lines]
    return out


def _movement_audit(actor: Actor, m: StockMovement) -> tuple:
    return (actor, f"stock.{m.kind}", m, {"after": {
        "store_id": str(m.store_id), "catalog_item_id": str(m.catalog_item_id), "kind": m.kind, "delta": m.delta,
        "quantity_after": m.quantity_after, "order_id": str(m.order_id), "note": m.note}})


def _notify(order: Order, kind: str) -> None:
    store = tenant_get(Store, order.store_id)
    notify(order.household_id, kind, f"{kind}:{order.id}", link=f"orders/{order.id}", number=order.number,
           store=store.name if store else "", points=order.total_points)


def _check(actor: Actor, data) -> tuple[Household, Store, bool, list]:
    """(household, store, hand_over, lines) of a request to place an order, checked and authorized;
    reads only. The input's own rules first (`Invalid`), then the township's data (`InputConflict`)."""
    data = data if isinstance(data, dict) else {}
    errors: dict = {}
    conflicts: dict = {}
    household_id = check(Uuid(_("Choose a household of the township.")), data.get("household_id"), "household_id",
                         errors)
    store_id = check(Uuid(_("Choose one of the township's stores.")), data.get("store_id"), "store_id", errors)
    lines = _lines(data.get("lines"), errors, conflicts)
    Invalid.raise_if(errors)
    household = _household_for(actor, household_id)
    store = _store_for(household, store_id)
    authorize(actor, "order.place", Order(store_id=store.id, household_id=household.id))
    hand_over = data.get("hand_over") in (True, "1", "true", "on", "yes")
    if hand_over and not may(actor, "order.hand_over", store):
        raise Forbidden(_("Only the store's storekeeper hands goods over."))
    if household.status != ACTIVE:
        conflicts["household_id"] = [_("This household is no longer active.")]
    if not store.active:
        conflicts["store_id"] = [_("This store is closed.")]
    elif not serves(store, household):
        conflicts["store_id"] = [_("This store does not serve the household's village.")]
    InputConflict.raise_if(conflicts)
    return household, store, hand_over, lines


@action("order.place")
def preview(actor: Actor, data: dict) -> dict:
    """What placing `data` would do, for the page's confirmation step: the lines, the total, the
    available points before and after. Refuses (fields `quantity`, `points`) what would fail now;
    placing checks again under the row locks. Reads only."""
    household, store, hand_over, lines = _check(actor, data)
    levels = dict(db.session.execute(select(StockLevel.catalog_item_id, StockLevel.quantity).where(
        StockLevel.store_id == store.id, StockLevel.catalog_item_id.in_([i.id for i, _q in lines]))).all())
    errors: dict = {}
    for item, quantity in lines:
        have = levels.get(item.id, 0)
        if have < quantity:
            message = (_("%(item)s is out of stock.", item=item.name) if have == 0 else
                       _("Only %(n)d of %(item)s left.", n=have, item=item.name))
            errors.setdefault("quantity", []).append(message)
            errors[f"quantity.{item.id}"] = [message]
    total = sum(item.price_points * quantity for item, quantity in lines)
    available = available_points(household.id)
    if total > available:
        errors["points"] = [_("Only %(n)s points are available; this order needs %(m)s.", n=available, m=total)]
    InputConflict.raise_if(errors)
    return {"household": household, "store": store, "hand_over": hand_over, "lines": lines, "total": total,
            "available": available, "after": available - total}


@action("order.place")
def place_order(actor: Actor, data: dict) -> Order:
    """Place an order: {household_id (a villager may leave it out), store_id (default: the store
    serving the household), lines: [{catalog_item_id, quantity}], hand_over (the counter: the goods
    go over at once, points spent)}. Takes the stock and reserves the points in the caller's
    transaction; with `hand_over` the order is handed over in the same transaction."""
    household, store, hand_over, lines = _check(actor, data)
    own = household.id in (scope_ids(actor, "order.place", "household") or set()) if actor.kind == "user" else False
    total = sum(item.price_points * quantity for item, quantity in lines)
    today = clock.today()

    number = _next_number()  # 1. the order counter (its row lock also keeps two new pickup codes apart)
    phone = own and not hand_over
    order = Order(id=new_id(), number=number, store_id=store.id, household_id=household.id, state=ORDER_OPEN,
                  channel=PHONE if phone else COUNTER, total_points=total,
                  pickup_code=_new_pickup_code(store.id) if phone else None,
                  period=ledger.period_of(today), placed_at=clock.now(),
                  placed_by=actor.id if actor.kind == "user" else None, placed_by_name=actor.name[:100])
    db.session.add(order)
    db.session.flush()  # the order row exists before its lines and movements name it
    order_lines = [OrderLine(order_id=order.id, catalog_item_id=item.id, quantity=quantity,
                             unit_points=item.price_points, item_name=item.name, item_name_en=item.name_en,
                             unit=item.unit) for item, quantity in lines]
    db.session.add_all(order_lines)
    movements = _take_stock(actor, order, store, lines)  # 2. the stock level rows
    try:
        ledger.reserve(household_id=household.id, points=total, period=order.period, order_id=order.id, on=today,
                       memo=f"{store.name} #{number}", created_by=order.placed_by,
                       created_by_name=actor.name)  # 3. the balance row
    except Invalid as e:  # more points than available: the household's balance refuses, not the input
        raise InputConflict(e.message, e.errors) from None
    audits = [(actor, "order.place", order, {"after": snapshot(order, order_lines)})]
    audits += [_movement_audit(actor, m) for m in movements]
    if hand_over:
        _spend(actor, order, today)
        audits.append((actor, "order.hand_over", order, {"before": {"state": ORDER_OPEN},
                                                         "after": {"state": order.state}}))
    db.session.flush()
    record_many(audits)  # 4. the audit head
    _notify(order, "order_placed" if not hand_over else "order_handed_over")
    return order


def _new_pickup_code(store_id) -> str:
    """Four random digits that no other waiting order of the store has (the order counter's lock is
    held, so two orders placed at once cannot pick the same; the unique index is the backstop)."""
    taken = set(db.session.execute(select(Order.pickup_code).where(
        Order.store_id == store_id, Order.state == ORDER_OPEN, Order.pickup_code.is_not(None))).scalars())
    if len(taken) >= 10 ** PICKUP_DIGITS:
        raise InputConflict(_("This store has too many orders waiting; hand some over first."),
                            {"store_id": [_("This store has too many orders waiting; hand some over first.")]})
    while True:
        code = f"{secrets.randbelow(10 ** PICKUP_DIGITS):0{PICKUP_DIGITS}d}"
        if code not in taken:
            return code


def pickup_digits(text) -> str:
    """What the storekeeper typed (spaces, dashes, full-width digits) as a pickup code, or ''."""
    digits = re.sub(r"\D", "", str(text or "")[:20])
    digits = digits.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return digits if len(digits) == PICKUP_DIGITS and digits.isascii() else ""


@action("order.hand_over")
def find_by_pickup(actor: Actor, store_id, code_text) -> Order:
    """The store's waiting order with this pickup code; a wrong or unknown code is an error on
    `pickup_code` (not a 404: the storekeeper mistyped, or the villager misread)."""
    code = pickup_digits(code_text)
    store = tenant_get_or_404(Store, store_id)
    authorize(actor, "order.hand_over", store)
    order = db.session.execute(select(Order).where(Order.store_id == store.id, Order.state == ORDER_OPEN,
                                                   Order.pickup_code == code)).scalar_one_or_none() if code else None
    if order is None:
        raise Invalid.field("pickup_code", _("No order waiting at %(store)s has this pickup code.", store=store.name))
    return order


# --- closing --------------------------------------------------------------------------------------

def _locked(order_id) -> Order:
    found = parse_uuid(order_id)
    order = db.session.execute(select(Order).where(Order.id == found).with_for_update()
                               .execution_options(populate_existing=True)).scalar_one_or_none() if found else None
    if order is None:
        raise NotFound(_("Not found."))
    return order


def _closed_by(actor: Actor, order: Order, state: str) -> None:
    order.state, order.closed_at = state, clock.now()
    order.closed_by = actor.id if actor.kind == "user" else None
    order.closed_by_name = actor.name[:100]


def _spend(actor: Actor, order: Order, today: date) -> None:
    store = tenant_get(Store, order.store_id)
    ledger.settle(household_id=order.household_id, points=order.total_points, period=order.period,
                  order_id=order.id, spend=True, on=today, memo=f"{store.name} #{order.number}",
                  created_by=actor.id if actor.kind == "user" else None, created_by_name=actor.name)
    _closed_by(actor, order, ORDER_HANDED_OVER)


def _not_open(order: Order) -> Conflict:
    return Conflict(_("Order #%(n)s is already %(state)s.", n=order.number, state=STATE_LABELS[order.state]),
                    {"state": [str(STATE_LABELS[order.state])]})


@action("order.hand_over")
def hand_over(actor: Actor, order_id, pickup_code=None) -> Order:
    """The storekeeper gives the goods and confirms: the reserved points are spent. A phone order
    goes over only against its pickup code, said or shown by the villager (every way in: the
    order page, the desk's row, the API), so goods never go to whoever merely names the order."""
    order = _locked(order_id)  # 1. the order row
    authorize(actor, "order.hand_over", order)
    if order.state != ORDER_OPEN:
        raise _not_open(order)
    if order.pickup_code and pickup_digits(pickup_code) != order.pickup_code:
        raise Invalid.field("pickup_code", _("Ask the villager for the order's pickup code.") if not pickup_code
                            else _("This is not the order's pickup code: ask the villager to show the order."))
    _spend(actor, order, clock.today())
    db.session.flush()
    record_many([(actor, "order.hand_over", order, {"before": {"state": ORDER_OPEN}, "after": {"state": order.state}})])
    _notify(order, "order_handed_over")
    return order


def pickup_code_for(actor: Actor, order: Order) -> str | None:
    """The pickup code as `actor` may read it: only the ordering household's own villager sees it
    (staff ask for it; a code they could read would prove nothing at the counter)."""
    if not order.pickup_code or "villager" not in actor.roles:
        return None
    own = scope_ids(actor, "order.place", "household") or set()
    return order.pickup_code if order.household_id in own else None


def order_lines(order_id) -> list[OrderLine]:
    return list(db.session.execute(select(OrderLine).where(OrderLine.order_id == order_id)
                                   .order_by(OrderLine.catalog_item_id)).scalars())


def _release(actor: Actor, order: Order, state: str, reason: str = "") -> Order:
    """Give the goods back to stock and the points back to the household (the order is locked)."""
    store = tenant_get(Store, order.store_id)
    movements = []
    for line in order_lines(order.id):  # 2. the stock level rows, ascending item id
        item = tenant_get(CatalogItem, line.catalog_item_id)
        level = locked_level(store, item, create=True)
        level.quantity += line.quantity
        movements.append(_movement(actor, order, item.id, "release", line.quantity, level.quantity))
    db.session.add_all(movements)
    ledger.settle(household_id=order.household_id, points=order.total_points, period=order.period,
                  order_id=order.id, spend=False, on=clock.today(), memo=f"{store.name} #{order.number}",
                  created_by=actor.id if actor.kind == "user" else None,
                  created_by_name=actor.name)  # 3. the balance row
    _closed_by(actor, order, state)
    order.cancel_reason = reason
    db.session.flush()
    record_many([(actor, f"order.{'cancel' if state == ORDER_CANCELLED else 'expire'}", order,
                  {"before": {"state": ORDER_OPEN}, "after": {"state": state, "reason": reason}})]
                + [_movement_audit(actor, m) for m in movements])  # 4. the audit head
    _notify(order, "order_cancelled" if state == ORDER_CANCELLED else "order_expired")
    return order


@action("order.cancel")
def cancel(actor: Actor, order_id, reason: str = "") -> Order:
    """Cancel an order that is not handed over yet: the villager of the household, the store's
    storekeeper or a township admin. Stock and points are released."""
    reason = _reason(reason)
    order = _locked(order_id)
    authorize(actor, "order.cancel", order)
    if order.state != ORDER_OPEN:
        raise _not_open(order)
    return _release(actor, order, ORDER_CANCELLED, reason)


def expiry_cutoff(day: date) -> datetime:
    """Orders placed before this instant are due to expire in the run of local date `day`: those
    placed on `day - ORDER_DAYS` or earlier (local dates of the township)."""
    return clock.local_moment(day - timedelta(days=ORDER_DAYS - 1), time(0))


def expire_due(actor: Actor, day: date) -> dict:
    """The nightly job: release every open order placed `ORDER_DAYS` or more local days before `day`,
    one transaction each (a hand-over racing it is decided by the order's row lock). Running it again
    finds nothing left to do."""
    cutoff = expiry_cutoff(day)
    due = list(db.session.execute(select(Order.id).where(Order.state == ORDER_OPEN, Order.placed_at < cutoff)
                                  .order_by(Order.placed_at, Order.id)).scalars())
    db.session.commit()
    expired = 0
    for order_id in due:
        order = _locked(order_id)
        if order.state == ORDER_OPEN:
            _release(actor, order, ORDER_EXPIRED)
            expired += 1
        db.session.commit()
    return {"expired": expired, "cutoff": cutoff.isoformat()}


# --- reading --------------------------------------------------------------------------------------

def _scope_condition(actor: Actor, action_name: str = "order.list"):
    """SQL condition on Order for the actor's reach, or None for the whole township."""
    return reach.where(actor, action_name, Order)


@action("order.list")
def list_orders(actor: Actor, *, store_id=None, household_id=None, state: str | None = None,
                placed_on: date | None = None, closed_on: date | None = None, limit: int = 100) -> list[Order]:
    """Orders within the actor's reach, newest first: a villager's household's, a storekeeper's
    store's, a village admin's village's, a township admin's all."""
    conditions = []
    scope = _scope_condition(actor)
    if scope is not None:
        conditions.append(scope)
    if store_id:
        conditions.append(Order.store_id == parse_uuid(store_id))
    if household_id:
        conditions.append(Order.household_id == parse_uuid(household_id))
    if state:
        if state not in ORDER_STATES:
            raise Invalid.field("state", _("Unknown state."))
        conditions.append(Order.state == state)
    for column, day in ((Order.placed_at, placed_on), (Order.closed_at, closed_on)):
        if day is not None:
            start = clock.local_moment(day, time(0))
            conditions += [column >= start, column < start + timedelta(days=1)]
    limit = max(1, min(int(limit or 100), 500))
    return list(db.session.execute(select(Order).where(*conditions)
                                   .order_by(Order.placed_at.desc(), Order.id.desc()).limit(limit)).scalars())


@action("order.view")
def get_order(actor: Actor, order_id) -> Order:
    order = tenant_get_or_404(Order, order_id)
    authorize(actor, "order.view", order)
    return order


def open_orders_of(household_id) -> list[Order]:
    return list(db.session.execute(select(Order).where(Order.household_id == household_id,
                                                       Order.state == ORDER_OPEN)
                                   .order_by(Order.placed_at)).scalars())


def lines_of(orders: list[Order]) -> dict:
    """{order id: [lines]} for a page of orders, in one query."""
    ids = [o.id for o in orders]
    out: dict = {i: [] for i in ids}
    if ids:
        for line in db.session.execute(select(OrderLine).where(OrderLine.order_id.in_(ids))
                                       .order_by(OrderLine.catalog_item_id)).scalars():
            out[line.order_id].append(line)
    return out


def shelf(store: Store) -> list[dict]:
    """The store's active catalog with its stock here, in the catalog's order: what can be ordered."""
    levels = dict(db.session.execute(select(StockLevel.catalog_item_id, StockLevel.quantity)
                                     .where(StockLevel.store_id == store.id)).all())
    items = db.session.execute(select(CatalogItem).where(CatalogItem.active.is_(True))).scalars().all()
    rows = [{"item": i, "quantity": levels.get(i.id, 0)} for i in items]
    return sorted(rows, key=lambda r: (r["quantity"] == 0, r["item"].sort_order, pinyin_key(r["item"].name)))


@action("stock.view")
def low_stock(actor: Actor, store_id) -> list[dict]:
    """The store's items with `LOW_STOCK` or fewer left (active items, and withdrawn ones with some
    left are not restocked, so they are left out), fewest first."""
    store = tenant_get_or_404(Store, store_id)
    authorize(actor, "stock.view", store)
    rows = [r for r in shelf(store) if r["quantity"] <= LOW_STOCK]
    return sorted(rows, key=lambda r: (r["quantity"], r["item"].sort_order, pinyin_key(r["item"].name)))


def available_points(household_id) -> int:
    bal = ledger.balance(household_id, ledger.period_of(clock.today()))
    return bal.available if bal else 0


def waiting_count(actor: Actor) -> int:
    """Staff digest: open orders waiting for hand-over at the storekeeper's store(s); 0 for
    other roles (a township admin is not asked to hand goods over)."""
    if actor.kind != "user" or "storekeeper" not in actor.roles:
        return 0
    stores = scope_ids(actor, "order.hand_over", "store")
    if not stores:  # None: an admin as well, who is not asked to hand goods over
        return 0
    return db.session.execute(select(func.count()).select_from(Order).where(
        Order.state == ORDER_OPEN, Order.store_id.in_(list(stores)))).scalar_one()


def verify_orders() -> list[dict]:
    """Every order against the ledger: an open order holds exactly its total in RESERVED, a closed
    one holds nothing; the differences (none when sound)."""
    held = dict(db.session.execute(
        select(ledger.LedgerTransaction.source_id, func.sum(ledger.LedgerPosting.available))
        .select_from(ledger.LedgerPosting)
        .join(ledger.LedgerTransaction, (ledger.LedgerTransaction.id == ledger.LedgerPosting.transaction_id)
              & (ledger.LedgerTransaction.tenant_id == ledger.LedgerPosting.tenant_id))
        .where(ledger.LedgerPosting.account == ledger.RESERVED,
               ledger.LedgerTransaction.source_kind.in_((ledger.ORDER, ledger.ORDER_CLOSE)))
        .group_by(ledger.LedgerTransaction.source_id)).all())
    out = []
    for order_id, state, total in db.session.execute(select(Order.id, Order.state, Order.total_points)).all():
        expected = total if state == ORDER_OPEN else 0
        if int(held.get(order_id) or 0) != expected:
            out.append({"order_id": order_id, "state": state, "reserved": int(held.get(order_id) or 0),
                        "expected": expected})
    return out


