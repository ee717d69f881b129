"""Stores, catalog items and stock movements.

Stock is never overwritten: every change is a `StockMovement` written together with the cached
`StockLevel`, whose row is locked (SELECT … FOR UPDATE) first, so concurrent movements of one item
in one store queue instead of losing an update. Lock order: the stock level, then the audit head
(`record`). `verify_stock` recomputes the levels from the movements.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform.accounts.models import User
from jifen.platform.audit.service import record
from jifen.platform.db import db, new_id
from jifen.platform.errors import Conflict, InputConflict, Invalid
from jifen.platform.files.service import store_image
from jifen.platform.input import Text, Uuid, Whole, check, value
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action, authorize
from jifen.platform.roles.models import RoleAssignment, RoleScope
from jifen.platform.roles.registry import STOREKEEPER
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import current_tenant_id, register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.store import scopes  # noqa: F401 - registers the store scope kind
from jifen.tenants.store.models import FUNDING_SOURCES, CatalogItem, StockLevel, StockMovement, Store
from jifen.tenants.villages.models import Village

register_url_object("store_id", Store)
register_url_object("catalog_item_id", CatalogItem)
register_url_object("movement_id", StockMovement)

MAX_NAME = 64  # a store's name, a catalog item's (Chinese) name
MAX_ADDRESS, MAX_HOURS = 200, 100
MAX_NAME_EN, MAX_CATEGORY, MAX_UNIT, MAX_DESCRIPTION = 100, 32, 16, 2000
MAX_PRICE = 1_000_000
MAX_SORT_ORDER = 1_000_000
MAX_DELTA = 1_000_000
MAX_UNIT_COST_FEN = 100_000_000  # one million yuan for one unit is a typo, not a purchase
MAX_NOTE = 500
LOW_STOCK = 5  # an item with this many or fewer left is flagged on the store page
USER_KINDS = ("restock", "correction", "write_off")  # "redemption" comes from store orders only
CATEGORY_SUGGESTIONS = ("日用品", "清洁用品", "粮油副食", "个人护理", "文具", "其他")
KIND_LABELS = {"restock": _l("Restock"), "correction": _l("Correction"), "write_off": _l("Write-off"),
               "redemption": _l("Redemption"), "release": _l("Returned from an order")}
FUNDING_LABELS = {"collective_income": _l("Village collective income"),
                  "government_subsidy": _l("Government subsidy"), "donation": _l("Donation"),
                  "sponsorship": _l("Sponsorship"), "other": _l("Other")}


def _flag(value) -> bool:
    return value in (True, "1", "true", "on", "yes")


def _unique(model, name: str, obj, field: str, errors: dict, message: str) -> None:
    clash = db.session.execute(select(model.id).where(model.name == name)).scalar()
    if name and clash and (obj is None or clash != obj.id):
        errors[field] = [message]


# --- stores ---------------------------------------------------------------------------------

def _store_snapshot(s: Store) -> dict:
    return {"name": s.name, "village_id": str(s.village_id) if s.village_id else None, "address": s.address,
            "opening_hours": s.opening_hours, "active": s.active}


def _check_store(data: dict, store: Store | None = None) -> dict:
    """Missing keys keep the store's current values (a PATCH, or the page's open/close button).
    The input's own rules first (`Invalid`), then those of the township's data (`InputConflict`)."""
    errors: dict = {}
    conflicts: dict = {}
    name = check(Text(MAX_NAME, required=True,
                      required_message=_("Enter the store's name (at most 64 characters).")),
                 data.get("name", store.name if store else ""), "name", errors) or ""
    _unique(Store, name, store, "name", conflicts, _("Another store already has this name."))
    village_id = check(Uuid(), data.get("village_id", store.village_id if store else None), "village_id", errors)
    if village_id is not None and tenant_get(Village, village_id) is None:
        conflicts["village_id"] = [_("Choose one of the township's villages.")]
    out = {"name": name, "village_id": village_id,
           "address": check(Text(MAX_ADDRESS), data.get("address", store.address if store else ""), "address",
                            errors),
           "opening_hours": check(Text(MAX_HOURS), data.get("opening_hours", store.opening_hours if store else ""),
                                  "opening_hours", errors),
           "active": _flag(data.get("active", store.active if store else True))}
    Invalid.raise_if(errors)
    InputConflict.raise_if(conflicts)
    return out


@action("store.list")
def list_stores(actor: Actor) -> list[Store]:
    """Open stores first, each group in pinyin order: everyone may see where the stores are."""
    stores = db.session.execute(select(Store)).scalars().all()
    return sorted(stores, key=lambda s: (not s.active, pinyin_key(s.name)))


@action("store.list")
def get_store(actor: Actor, store_id) -> Store:
    store = tenant_get_or_404(Store, store_id)
    return store


@action("store.manage")
def create_store(actor: Actor, data: dict) -> Store:
    store = Store(**_check_store(data))
    db.session.add(store)
    db.session.flush()
    record(actor, "store.create", store, after=_store_snapshot(store))
    return store


@action("store.manage")
def update_store(actor: Actor, store_id, data: dict) -> Store:
    """Edit, close (active false: no more stock movements) or reopen a store."""
    store = get_store(actor, store_id)
    before = _store_snapshot(store)
    for k, v in _check_store(data, store).items():
        setattr(store, k, v)
    db.session.flush()
    record(actor, "store.update", store, before=before, after=_store_snapshot(store))
    return store


# --- storekeepers: roles stay the staff service's business ------------------------------------

@action("store.list")
def storekeepers(actor: Actor, store_id) -> list[User]:
    """Users whose storekeeper role is scoped to this store, in pinyin order."""
    store = get_store(actor, store_id)
    users = db.session.execute(
        select(User)
        .join(RoleAssignment, (RoleAssignment.user_id == User.id) & (RoleAssignment.tenant_id == User.tenant_id))
        .join(RoleScope, (RoleScope.assignment_id == RoleAssignment.id)
              & (RoleScope.tenant_id == RoleAssignment.tenant_id))
        .where(RoleAssignment.role == STOREKEEPER, RoleScope.scope_kind == "store", RoleScope.scope_id == store.id)
    ).scalars().all()
    return sorted(users, key=lambda u: pinyin_key(u.display_name))


def _staff_member(user_id) -> User:
    found = value(Uuid(), user_id, "user_id")
    if found is None:
        raise Invalid.field("user_id", _("Choose a person from the township's staff."))
    user = tenant_get(User, found)
    if user is None:
        raise InputConflict.field("user_id", _("Choose a person from the township's staff."))
    return user


@action("store.manage")
def assign_storekeeper(actor: Actor, store_id, user_id) -> User:
    """Give the person the storekeeper role for this store, keeping their other roles. A storekeeper
    keeps one store, so this moves them here from any other."""
    store = get_store(actor, store_id)
    if not store.active:
        raise Conflict(_("This store is closed; reopen it first."))
    user = _staff_member(user_id)
    if not user.is_active:
        raise InputConflict.field("user_id", _("This account is disabled."))
    roles = [r for r in staff.roles_of([user.id]).get(user.id, []) if r["role"] != STOREKEEPER]
    return staff.set_roles(actor, user.id, roles + [{"role": STOREKEEPER, "scope_ids": [store.id]}])


@action("store.manage")
def remove_storekeeper(actor: Actor, store_id, user_id) -> User:
    store = get_store(actor, store_id)
    user = _staff_member(user_id)
    roles = staff.roles_of([user.id]).get(user.id, [])
    if {"role": STOREKEEPER, "scope_ids": [store.id]} not in roles:
        raise InputConflict.field("user_id", _("This person is not a storekeeper of this store."))
    others = [r for r in roles if r["role"] != STOREKEEPER]
    if not others:
        raise InputConflict.field("user_id", _("This is the person's only role: give them another role or disable "
                                         "the account on the staff page."))
    return staff.set_roles(actor, user.id, others)


# --- the catalog ----------------------------------------------------------------------------

def item_snapshot(i: CatalogItem) -> dict:
    return {"name": i.name, "name_en": i.name_en, "category": i.category, "price_points": i.price_points,
            "unit": i.unit, "description": i.description,
            "photo_file_id": str(i.photo_file_id) if i.photo_file_id else None, "active": i.active,
            "sort_order": i.sort_order}


def _check_item(data: dict, item: CatalogItem | None = None) -> tuple[dict, dict, dict]:
    """(clean values, errors of the input, conflicts with the township's data); missing keys keep
    the item's current values."""
    errors: dict = {}
    conflicts: dict = {}
    cur = item_snapshot(item) if item else {"price_points": None, "sort_order": 0, "active": True}
    name = check(Text(MAX_NAME, required=True, required_message=_("Enter the item's name (at most 64 characters).")),
                 data.get("name", item.name if item else ""), "name", errors) or ""
    _unique(CatalogItem, name, item, "name", conflicts, _("Another catalog item already has this name."))
    price = check(Whole(1, MAX_PRICE), data.get("price_points", cur["price_points"]), "price_points", errors)
    if price is None and "price_points" not in errors:
        errors["price_points"] = [_("Enter the price as a whole number of points from 1 to %(max)s.",
                                    max=format(MAX_PRICE, ","))]
    out = {
        "name": name,
        "name_en": check(Text(MAX_NAME_EN), data.get("name_en", cur.get("name_en", "")), "name_en", errors),
        "category": check(Text(MAX_CATEGORY), data.get("category", cur.get("category", "")), "category", errors),
        "unit": check(Text(MAX_UNIT, required=True,
                           required_message=_("Enter the unit, e.g. 支, 袋, 瓶 (at most 16 characters).")),
                      data.get("unit", cur.get("unit", "")), "unit", errors),
        "description": check(Text(MAX_DESCRIPTION), data.get("description", cur.get("description", "")),
                             "description", errors),
        "price_points": price,
        "sort_order": check(Whole(-MAX_SORT_ORDER, MAX_SORT_ORDER), data.get("sort_order", cur["sort_order"]),
                            "sort_order", errors) or 0,
        "active": _flag(data.get("active", cur["active"])),
    }
    return out, errors, conflicts


def _save_item(actor: Actor, data: dict, photo, item: CatalogItem | None) -> dict:
    """Check fields and photo together, so the form shows every problem at once; nothing is kept
    unless both are fine (a refused request rolls back the stored photo). A name already taken is
    said once the input itself is right."""
    values, errors, conflicts = _check_item(data, item)
    if photo is not None:
        try:
            values["photo_file_id"] = store_image(actor, photo, "photo").id
        except Invalid as e:
            errors.update(e.errors)
    Invalid.raise_if(errors)
    InputConflict.raise_if(conflicts)
    return values


@action("store.list")
def list_catalog(actor: Actor, include_inactive: bool = False) -> list[CatalogItem]:
    """In the township's chosen order, then pinyin order of name."""
    q = select(CatalogItem)
    if not include_inactive:
        q = q.where(CatalogItem.active.is_(True))
    items = db.session.execute(q).scalars().all()
    return sorted(items, key=lambda i: (i.sort_order, pinyin_key(i.name)))


@action("store.list")
def get_catalog_item(actor: Actor, catalog_item_id) -> CatalogItem:
    item = tenant_get_or_404(CatalogItem, catalog_item_id)
    return item


def categories_in_use() -> list[str]:
    """The suggested categories plus any the township typed itself, for the form's suggestions."""
    used = db.session.execute(select(CatalogItem.category).distinct()).scalars().all()
    return list(CATEGORY_SUGGESTIONS) + sorted({c for c in used if c} - set(CATEGORY_SUGGESTIONS), key=pinyin_key)


@action("catalog.manage")
def create_catalog_item(actor: Actor, data: dict, photo=None) -> CatalogItem:
    item = CatalogItem(**_save_item(actor, data, photo, None))
    db.session.add(item)
    db.session.flush()
    record(actor, "catalog.create", item, after=item_snapshot(item))
    return item


@action("catalog.manage")
def update_catalog_item(actor: Actor, catalog_item_id, data: dict, photo=None) -> CatalogItem:
    """Edit, replace the photo, or withdraw (active false) / restore an item."""
    item = get_catalog_item(actor, catalog_item_id)
    before = item_snapshot(item)
    for k, v in _save_item(actor, data, photo, item).items():
        setattr(item, k, v)
    db.session.flush()
    record(actor, "catalog.update", item, before=before, after=item_snapshot(item))
    return item


# --- stock ----------------------------------------------------------------------------------

def _store_in_scope(actor: Actor, action_name: str, store_id) -> Store:
    store = tenant_get_or_404(Store, store_id)
    authorize(actor, action_name, store)
    return store


@action("stock.view")
def stock_of(actor: Actor, store_id) -> list[dict]:
    """Every active catalog item with its quantity here (withdrawn items too while any is left)."""
    store = _store_in_scope(actor, "stock.view", store_id)
    levels = dict(db.session.execute(select(StockLevel.catalog_item_id, StockLevel.quantity)
                                     .where(StockLevel.store_id == store.id)).all())
    items = db.session.execute(select(CatalogItem)).scalars().all()
    rows = [{"item": i, "catalog_item_id": i.id, "quantity": levels.get(i.id, 0),
             "low": levels.get(i.id, 0) <= LOW_STOCK} for i in items if i.active or levels.get(i.id, 0)]
    return sorted(rows, key=lambda r: (r["item"].sort_order, pinyin_key(r["item"].name)))


@action("stock.view")
def list_movements(actor: Actor, store_id, catalog_item_id=None, limit: int = 100) -> list[StockMovement]:
    """The store's movements, newest first, optionally of one item."""
    store = _store_in_scope(actor, "stock.view", store_id)
    q = select(StockMovement).where(StockMovement.store_id == store.id)
    if catalog_item_id:
        q = q.where(StockMovement.catalog_item_id == value(Uuid(), catalog_item_id, "catalog_item_id"))
    return db.session.execute(q.order_by(StockMovement.created_at.desc(), StockMovement.id.desc())
                              .limit(limit)).scalars().all()


@action("stock.view")
def get_movement(actor: Actor, movement_id) -> StockMovement:
    movement = tenant_get_or_404(StockMovement, movement_id)
    _store_in_scope(actor, "stock.view", movement.store_id)
    return movement


def yuan_to_fen(value, field: str = "unit_cost_fen") -> int | None:
    """A form's price in yuan ("3.5", "12") as whole fen; empty is None."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        fen = Decimal(text) * 100
    except InvalidOperation:
        fen = None
    if fen is None or not fen.is_finite() or fen != fen.to_integral_value() or not 0 <= fen <= MAX_UNIT_COST_FEN:
        raise Invalid.field(field, _("Enter an amount in yuan, e.g. 3.50."))
    return int(fen)


def _check_movement(store: Store, catalog_item_id, kind, delta, funding_source, unit_cost_fen, note) -> dict:
    """The movement's own rules (the API document states them, `MovementInSchema`) first, then
    those of the township's data: the item named exists and, for a restock, is not withdrawn."""
    errors: dict = {}
    conflicts: dict = {}
    kind = kind if isinstance(kind, str) else ""
    if not store.active:
        raise Conflict(_("This store is closed: it takes no stock movements. Reopen it first."))
    item_id = check(Uuid(), catalog_item_id, "catalog_item_id", errors)
    item = tenant_get(CatalogItem, item_id) if item_id else None
    if item is None and "catalog_item_id" not in errors:
        (conflicts if item_id else errors)["catalog_item_id"] = [_("Choose an item of the catalog.")]
    if kind == "redemption":
        errors["kind"] = [_("Redemptions are recorded by the store's orders, not by hand.")]
    elif kind not in USER_KINDS:
        errors["kind"] = [_("Choose restock, correction or write-off.")]
    elif item is not None and not item.active and kind == "restock":
        conflicts["catalog_item_id"] = [_("This item is withdrawn from the catalog; restore it before restocking.")]
    low, high, message = {
        "restock": (1, MAX_DELTA, _("Enter how many arrived: a whole number from 1 to %(max)s.", max=format(MAX_DELTA, ","))),
        "write_off": (-MAX_DELTA, -1, _("Enter how many are written off as a negative whole number, e.g. -2.")),
    }.get(kind, (-MAX_DELTA, MAX_DELTA, _("Enter the change as a whole number other than 0, e.g. 3 or -2.")))
    delta = check(Whole(low, high), delta, "delta", errors)
    if delta in (0, None) and "delta" not in errors:
        errors["delta"] = [message]
    funding_source = str(funding_source or "").strip() or None
    if kind == "restock" and funding_source not in FUNDING_SOURCES:
        errors["funding_source"] = [_("Say who paid for the goods.")]
    elif kind != "restock" and funding_source:
        errors["funding_source"] = [_("Only a restock has a funding source.")]
    if unit_cost_fen in ("", None):
        unit_cost_fen = None
    elif kind != "restock":
        errors["unit_cost_fen"] = [_("Only a restock has a unit cost.")]
    else:
        unit_cost_fen = check(Whole(0, MAX_UNIT_COST_FEN), unit_cost_fen, "unit_cost_fen", errors)
    note = check(Text(MAX_NOTE), note, "note", errors)
    if kind in ("correction", "write_off") and not note and "note" not in errors:
        errors["note"] = [_("Give the reason (e.g. counted 3 fewer, damaged by damp).")]
    Invalid.raise_if(errors)
    InputConflict.raise_if(conflicts)
    return {"item": item, "kind": kind, "delta": delta, "funding_source": funding_source,
            "unit_cost_fen": unit_cost_fen, "note": note}


@action("stock.move")
def move_stock(actor: Actor, store_id, catalog_item_id, kind, delta, funding_source=None, unit_cost_fen=None,
               note="") -> StockMovement:
    """A restock (delta > 0, who paid), a correction (± with a reason) or a write-off (< 0, reason)."""
    store = _store_in_scope(actor, "stock.move", store_id)
    clean = _check_movement(store, catalog_item_id, kind, delta, funding_source, unit_cost_fen, note)
    return apply_movement(actor, store, clean.pop("item"), **clean)


def locked_level(store: Store, item: CatalogItem, create: bool) -> StockLevel | None:
    """The level row, locked for this transaction; created at 0 first if missing (insert-or-ignore, so
    two first movements at once do not collide)."""
    q = (select(StockLevel).where(StockLevel.store_id == store.id, StockLevel.catalog_item_id == item.id)
         .with_for_update().execution_options(populate_existing=True))
    level = db.session.execute(q).scalar_one_or_none()
    if level is None and create:
        dialect = db.session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(StockLevel)
        # raw insert: the tenant is bound explicitly (reviewed; see tenancy.py)
        db.session.execute(insert.values(tenant_id=current_tenant_id(), id=new_id(), store_id=store.id,
                                         catalog_item_id=item.id, quantity=0)
                           .on_conflict_do_nothing(index_elements=["tenant_id", "store_id", "catalog_item_id"]))
        level = db.session.execute(q).scalar_one()
    return level


def apply_movement(actor: Actor, store: Store, item: CatalogItem, kind: str, delta: int,
                   funding_source: str | None = None, unit_cost_fen: int | None = None,
                   note: str = "") -> StockMovement:
    """Lock the level, apply `delta`, write the movement and its audit entry. Callers have checked
    the actor and the input (`move_stock` here; the store's orders for redemptions)."""
    level = locked_level(store, item, create=delta > 0)
    have = level.quantity if level else 0
    if have + delta < 0:
        raise InputConflict.field("delta", _("Only %(n)d left in stock: cannot take away %(d)d.", n=have, d=-delta))
    level.quantity = have + delta
    movement = StockMovement(store_id=store.id, catalog_item_id=item.id, kind=kind, delta=delta,
                             quantity_after=level.quantity, funding_source=funding_source,
                             unit_cost_fen=unit_cost_fen, note=note,
                             actor_id=actor.id if actor.kind == "user" else None, actor_name=actor.name[:64])
    db.session.add(movement)
    db.session.flush()
    record(actor, f"stock.{kind}", movement, after={
        "store_id": str(store.id), "catalog_item_id": str(item.id), "kind": kind, "delta": delta,
        "quantity_after": level.quantity, "funding_source": funding_source, "unit_cost_fen": unit_cost_fen,
        "note": note})
    return movement


def verify_stock(store_id) -> list[dict]:
    """Recompute each of the store's levels from its movements; the differences (none when sound)."""
    sums = dict(db.session.execute(
        select(StockMovement.catalog_item_id, func.sum(StockMovement.delta))
        .where(StockMovement.store_id == store_id).group_by(StockMovement.catalog_item_id)).all())
    levels = dict(db.session.execute(select(StockLevel.catalog_item_id, StockLevel.quantity)
                                     .where(StockLevel.store_id == store_id)).all())
    return [{"catalog_item_id": i, "recorded": levels.get(i, 0), "from_movements": int(sums.get(i) or 0)}
            for i in sorted(set(sums) | set(levels), key=str) if levels.get(i, 0) != int(sums.get(i) or 0)]
