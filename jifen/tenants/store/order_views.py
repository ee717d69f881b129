"""Store orders (redemption): pages.

Villagers: their store's shelf with a quantities form (no JavaScript), a confirmation step, their
orders. Storekeepers: the desk (orders to hand over, handed over today, low stock), hand-over, the
counter (a household by its QR card, its typed card code or a search; pick, confirm, handed over
at once). Staff: printable A4 sheets of household QR cards per grid node.
"""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.console import register_tile
from jifen.platform.db import db, parse_uuid
from jifen.platform.errors import Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.page_once import new_key, once
from jifen.platform.roles.authz import Actor, authorize, may, scope_ids
from jifen.platform.tenancy import tenant_get
from jifen.platform.web import current_actor, submit
from jifen.tenants.households import service as households_service
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.notifications.digest_sources import register_digest_source
from jifen.tenants.points import ledger
from jifen.tenants.points.home_panels import register_home_panel
from jifen.tenants.store import cards, orders
from jifen.tenants.store.models import ORDER_CANCELLED, ORDER_HANDED_OVER, ORDER_OPEN, ORDER_STATES, Order, Store
from jifen.tenants.store.views import template_helpers as store_helpers
from jifen.tenants.villages.models import Village

bp = Blueprint("orders", __name__, url_prefix="/t/<tenant_slug>/orders")
register_tile("orders.shop", _l("Points store"), "inbox.view", order=7)  # villagers
register_tile("orders.my_card", _l("My QR code"), "household_card.own", order=8)  # villagers
register_tile("orders.desk", _l("Store counter"), "order.hand_over", order=58)
register_tile("orders.index", _l("Store orders"), "order.list", order=59)
register_tile("orders.cards_index", _l("Household QR cards"), "household_card.print", order=66)
register_digest_source("store_orders", _l("Store orders to hand over"), orders.waiting_count, endpoint="orders.desk")


# --- shared -------------------------------------------------------------------------------------

@bp.context_processor
def _helpers():
    english = str(get_locale()) == "en"

    def line_name(line) -> str:
        return line.item_name_en if english and line.item_name_en else line.item_name

    return store_helpers() | {"STATE_LABELS": orders.STATE_LABELS, "line_name": line_name, "shown": cards.shown,
                              "may": may, "actor": current_actor(), "MAX_QUANTITY": orders.MAX_QUANTITY,
                              "ORDER_DAYS": orders.ORDER_DAYS}


@bp.app_template_global()
def order_entry(tx) -> dict | None:
    """For the passbook: a store order's ledger entry as the household reads it (its number, and
    the change to available points), or None for any other entry."""
    if tx.source_kind not in (ledger.ORDER, ledger.ORDER_CLOSE):
        return None
    order = tenant_get(Order, tx.source_id)
    if order is None:
        return None
    if tx.source_kind == ledger.ORDER:
        return {"text": _("Store order #%(n)s", n=order.number), "available": -order.total_points}
    if order.state == ORDER_HANDED_OVER:
        return {"text": _("Store order #%(n)s handed over", n=order.number), "available": 0}
    return {"text": _("Store order #%(n)s %(state)s: points returned", n=order.number,
                      state=orders.STATE_LABELS[order.state]), "available": order.total_points}


def _pick(options: list, wanted):
    """The option whose id is `wanted`, else the first (None when there is none)."""
    wanted = parse_uuid(wanted)
    return next((o for o in options if o.id == wanted), options[0] if options else None)


def _staff_stores(actor: Actor, action_name: str) -> list[Store]:
    """Open stores the actor works in for `action_name`, in pinyin order."""
    stores = db.session.execute(select(Store).where(Store.active.is_(True))).scalars().all()
    return sorted([s for s in stores if may(actor, action_name, s)], key=lambda s: s.name)


def _households(order_list) -> dict:
    ids = {o.household_id for o in order_list}
    if not ids:
        return {}
    return {h.id: h for h in db.session.execute(select(Household).where(Household.id.in_(list(ids)))).scalars()}


def _store_names() -> dict:
    return {s.id: s.name for s in db.session.execute(select(Store)).scalars()}


def _quantities(form) -> list[dict]:
    """The quantities form as order lines: fields qty-<item id>; empty or 0 is not ordered."""
    out = []
    for key in form:
        if key.startswith("qty-"):
            value = (form.get(key) or "").strip()
            if value not in ("", "0"):
                out.append({"catalog_item_id": key[4:], "quantity": value})
    return out


def _safe_next(default: str) -> str:
    target = request.form.get("next") or ""
    return target if target.startswith(f"/t/{g.tenant_slug}/orders") and "//" not in target else default


# --- the villager's shop ------------------------------------------------------------------------

def _shop_page(errors=None, form=None, status=200):
    actor = current_actor()
    own = orders.own_households(actor)
    form = form if form is not None else request.args
    household = _pick(own, form.get("household_id"))
    stores = orders.stores_for(household) if household else []
    store = _pick(stores, form.get("store_id"))
    return render_template(
        "orders/shop.html", households=own, household=household, stores=stores, store=store,
        shelf=orders.shelf(store) if store else [], available=orders.available_points(household.id) if household else 0,
        open_orders=orders.open_orders_of(household.id) if household else [], errors=errors or {}, form=form,
        counter=False), status


@bp.get("/shop")
def shop():
    actor = current_actor()
    authorize(actor, "order.place")
    if "villager" not in actor.roles:  # staff order for a household at the counter
        return redirect(url_for("orders.counter"))
    return _shop_page()


def _review(p: dict, counter: bool):
    return render_template("orders/review.html", p=p, counter=counter, once_key=new_key(),
                           form=request.form)


def _place(data: dict, page, success):
    """The confirmation step's three buttons: change (the form again), review, or confirm (once)."""
    actor = current_actor()
    step = request.form.get("step")
    if step == "edit":
        return page(None, request.form)
    if step != "confirm":
        try:
            return _review(orders.preview(actor, data), counter=bool(data.get("hand_over")))
        except (Invalid, InputConflict) as e:
            db.session.rollback()
            return page(e.errors, request.form, 422)

    def work():
        order, errors = submit(orders.place_order, actor, data)
        if errors:
            return page(errors, request.form, 422)
        return redirect(success(order), 303)

    return once(work)


@bp.post("/shop")
def shop_post():
    actor = current_actor()
    authorize(actor, "order.place")
    f = request.form
    data = {"household_id": f.get("household_id") or None, "store_id": f.get("store_id") or None,
            "lines": _quantities(f)}
    return _place(data, _shop_page, lambda o: url_for("orders.detail", order_id=o.id, done=1))


# --- orders ----------------------------------------------------------------------------------------

@bp.get("/")
def index():
    """My orders (a villager), or the orders within reach (staff), newest first."""
    actor = current_actor()
    authorize(actor, "order.list")
    state = request.args.get("state") if request.args.get("state") in ORDER_STATES else None
    stores = _staff_stores(actor, "order.list") if "villager" not in actor.roles else []
    store_id = parse_uuid(request.args.get("store_id"))
    found = orders.list_orders(actor, state=state, store_id=store_id, limit=200)
    return render_template("orders/index.html", orders=found, lines=orders.lines_of(found),
                           households=_households(found), store_names=_store_names(), state=state, stores=stores,
                           store_id=store_id, villager="villager" in actor.roles)


def _detail(order_id, errors=None, status=200):
    actor = current_actor()
    order = orders.get_order(actor, order_id)
    household = tenant_get(Household, order.household_id)
    done = request.args.get("done") and order.placed_by == actor.id
    shown_code = orders.pickup_code_for(actor, order)
    return render_template(
        "orders/detail.html", order=order, lines=orders.order_lines(order.id), household=household,
        village=tenant_get(Village, household.village_id), store=tenant_get(Store, order.store_id),
        may_hand_over=order.state == ORDER_OPEN and may(actor, "order.hand_over", order),
        may_cancel=order.state == ORDER_OPEN and may(actor, "order.cancel", order),
        available=orders.available_points(household.id) if done else None, done=done, errors=errors or {},
        card_url=url_for("orders.card", household_id=household.id)
        if may(actor, "household_card.print") and "villager" not in actor.roles else None,
        # the villager sees the pickup code; the storekeeper asks for it (prefilled from the desk's lookup)
        pickup_code=shown_code, pickup_asked=bool(order.pickup_code) and not shown_code,
        pickup_given=request.values.get("pickup_code", "")[:20]), status


@bp.get("/<uuid:order_id>")
def detail(order_id):
    return _detail(order_id)


@bp.post("/<uuid:order_id>/hand-over")
def hand_over(order_id):
    """The desk's one-tap hand-over, or the order page's, where a phone order's pickup code is asked."""
    _order, errors = submit(orders.hand_over, current_actor(), order_id, request.form.get("pickup_code"))
    if errors:
        return _detail(order_id, errors, 422)
    return redirect(_safe_next(url_for("orders.detail", order_id=order_id)), 303)


@bp.get("/pickup")
def pickup():
    """The desk's pickup-code box: the store's waiting order with that code, ready to hand over."""
    actor = current_actor()
    authorize(actor, "order.hand_over")
    store, _stores = _store_or_403(actor, "order.hand_over", request.args.get("store_id"))
    order, errors = submit(orders.find_by_pickup, actor, store.id, request.args.get("pickup_code"))
    if errors:
        return _desk_page(store.id, errors, 422)
    return redirect(url_for("orders.detail", order_id=order.id, pickup_code=order.pickup_code), 303)


@bp.post("/<uuid:order_id>/cancel")
def cancel(order_id):
    _order, errors = submit(orders.cancel, current_actor(), order_id, request.form.get("reason"))
    if errors:
        return _detail(order_id, errors, 422)
    return redirect(_safe_next(url_for("orders.detail", order_id=order_id)), 303)


# --- the storekeeper's desk and counter ------------------------------------------------------------

def _store_or_403(actor: Actor, action_name: str, wanted) -> tuple[Store, list[Store]]:
    stores = _staff_stores(actor, action_name)
    store = _pick(stores, wanted)
    if store is None:
        raise Forbidden(_("You keep no open store."))
    return store, stores


@bp.get("/desk")
def desk():
    return _desk_page(request.args.get("store_id"))


def _desk_page(store_id, errors=None, status=200):
    """Today at the store: orders to hand over (oldest first), handed over today, low stock."""
    actor = current_actor()
    authorize(actor, "order.hand_over")
    store, stores = _store_or_403(actor, "order.hand_over", store_id)
    waiting = list(reversed(orders.list_orders(actor, store_id=store.id, state=ORDER_OPEN, limit=500)))
    today = orders.list_orders(actor, store_id=store.id, state=ORDER_HANDED_OVER, closed_on=clock.today(), limit=500)
    low = orders.low_stock(actor, store.id) if may(actor, "stock.view", store) else []
    return render_template("orders/desk.html", store=store, stores=stores, waiting=waiting, today=today,
                           lines=orders.lines_of(waiting + today), households=_households(waiting + today), low=low,
                           errors=errors or {}), status


def _counter_page(errors=None, form=None, status=200):
    actor = current_actor()
    authorize(actor, "order.hand_over")
    form = form if form is not None else request.args
    store, stores = _store_or_403(actor, "order.hand_over", form.get("store_id"))
    errors = dict(errors or {})
    household, results = None, None
    q = (form.get("q") or "").strip()[:300]  # a scanned link is longer than a code
    if form.get("card"):  # the QR code's link
        household = cards.household_of(cards.find(form.get("card")))
        if household is None:
            errors["q"] = [_("No valid card has this code: it was mistyped, or the card was replaced.")]
    elif form.get("household_id"):
        household = tenant_get(Household, parse_uuid(form.get("household_id")))
    elif q:  # a typed card code, else a name, pinyin or door plate
        household = cards.household_of(cards.find(q)) if cards.scanned(q) else None
        if household is None:
            page = households_service.search_households(Actor.system("store counter", g.tenant.id), q=q,
                                                        village_id=store.village_id, per_page=20)
            results = [r for r in page.items if orders.serves(store, r["household"])]
    if household is not None and (household.status != ACTIVE or not orders.serves(store, household)):
        errors["q"] = [_("This household is not served by %(store)s.", store=store.name)]
        household = None
    return render_template(
        "orders/counter.html", store=store, stores=stores, household=household, results=results, q=q,
        village=tenant_get(Village, household.village_id) if household else None,
        card=cards.live_card(household.id) if household else None,
        shelf=orders.shelf(store) if household else [],
        available=orders.available_points(household.id) if household else 0,
        open_orders=orders.open_orders_of(household.id) if household else [],
        errors=errors, form=form, counter=True, may_cards=may(actor, "household_card.print")), status


@bp.get("/counter")
def counter():
    return _counter_page()


@bp.post("/counter")
def counter_post():
    actor = current_actor()
    authorize(actor, "order.hand_over")
    f = request.form
    data = {"household_id": f.get("household_id") or None, "store_id": f.get("store_id") or None,
            "lines": _quantities(f), "hand_over": True}
    if not data["household_id"]:
        raise NotFound(_("Not found."))
    return _place(data, _counter_page, lambda o: url_for("orders.detail", order_id=o.id, done=1))


@bp.get("/low-stock")
def low_stock():
    actor = current_actor()
    authorize(actor, "stock.view")
    store, stores = _store_or_403(actor, "stock.view", request.args.get("store_id"))
    return render_template("orders/low_stock.html", store=store, stores=stores, rows=orders.low_stock(actor, store.id))


# --- household QR cards ----------------------------------------------------------------------------

@bp.get("/cards")
def cards_index():
    actor = current_actor()
    return render_template("orders/cards_index.html", nodes=cards.printable_nodes(actor))


def _card_url(card) -> str:
    return url_for("orders.counter", card=card.code, _external=True)


@bp.get("/cards/<uuid:grid_node_id>")
def cards_sheet(grid_node_id):
    found = cards.sheet(current_actor(), grid_node_id)
    for row in found["cards"]:
        row["qr"] = cards.qr_svg(_card_url(row["card"]))
    return render_template("orders/cards_sheet.html", **found, single=False, MAX_SHEET=cards.MAX_SHEET)


@bp.post("/cards/<uuid:grid_node_id>/issue")
def cards_issue(grid_node_id):
    submit(cards.issue_for_node, current_actor(), grid_node_id)
    return redirect(url_for("orders.cards_sheet", grid_node_id=grid_node_id), 303)


@bp.get("/cards/households/<uuid:household_id>")
def card(household_id):
    household, live = cards.card_of(current_actor(), household_id)
    village = tenant_get(Village, household.village_id)
    rows = [{"household": household, "card": live, "village": village.name if village else "",
             "qr": cards.qr_svg(_card_url(live))}] if live else []
    return render_template("orders/cards_sheet.html", node=None, village=village.name if village else "", cards=rows,
                           missing=[] if live else [household], single=True, household=household, more=False)


@bp.post("/cards/households/<uuid:household_id>/reissue")
def card_reissue(household_id):
    submit(cards.reissue, current_actor(), household_id)
    return redirect(url_for("orders.card", household_id=household_id), 303)


@bp.post("/cards/households/<uuid:household_id>/revoke")
def card_revoke(household_id):
    submit(cards.revoke, current_actor(), household_id)
    return redirect(url_for("orders.card", household_id=household_id), 303)


# --- the villager's own QR code ---------------------------------------------------------------------

@bp.get("/my-card")
def my_card():
    """The household's card on the villager's phone, big enough for the counter's scanner."""
    actor = current_actor()
    own = orders.own_households(actor)
    chosen = _pick(own, request.args.get("household_id"))
    if chosen is None:
        raise NotFound(_("Not found."))
    household, live = cards.own_card(actor, chosen.id)
    village = tenant_get(Village, household.village_id)
    return render_template("orders/my_card.html", household=household, households=own, card=live,
                           village=village.name if village else "",
                           qr=cards.qr_svg(_card_url(live)) if live else None)


@bp.post("/my-card")
def my_card_issue():
    actor = current_actor()
    household_id = parse_uuid(request.form.get("household_id"))
    if household_id is None:
        raise NotFound(_("Not found."))
    cards.issue_own(actor, household_id)
    return redirect(url_for("orders.my_card", household_id=household_id), 303)


# --- the household home page's panel ------------------------------------------------------------

def _home_panel(actor: Actor, household: Household) -> dict | None:
    """Open orders of the household, for those who may see its orders; and the shop for its villager."""
    if not may(actor, "order.list", household):
        return None
    waiting = orders.open_orders_of(household.id)
    own = household.id in (scope_ids(actor, "order.place", "household") or set())
    if not waiting and not own:
        return None
    return {"orders": waiting, "lines": orders.lines_of(waiting), "store_names": _store_names() if waiting else {},
            "shop_url": url_for("orders.shop", household_id=household.id) if own else None,
            "orders_url": url_for("orders.index"), "cancelled": ORDER_CANCELLED}


register_home_panel("store_orders", "orders/_home_panel.html", _home_panel, order=30)

