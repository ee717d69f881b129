"""Township pages for points stores, the catalog and stock."""
from __future__ import annotations

import zlib

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.roles.authz import authorize, may
from jifen.platform.staff import service as staff
from jifen.platform.web import current_actor, submit
from jifen.tenants.store import service
from jifen.tenants.villages import service as villages

bp = Blueprint("store", __name__, url_prefix="/t/<tenant_slug>/stores")
register_tile("store.index", _l("Points stores"), "store.list", order=60)
register_tile("store.catalog", _l("Reward catalog"), "catalog.manage", order=65)
PLACEHOLDER_COLOURS = 6  # .ph-0 … .ph-5 in jifen.css


@bp.context_processor
def template_helpers():
    english = str(get_locale()) == "en"

    def item_name(item) -> str:
        return item.name_en if english and item.name_en else item.name

    def placeholder_colour(category: str) -> int:
        """The suggested categories get a colour each; others one by crc32 (stable across processes)."""
        if category in service.CATEGORY_SUGGESTIONS:
            return service.CATEGORY_SUGGESTIONS.index(category) % PLACEHOLDER_COLOURS
        return zlib.crc32((category or "").encode()) % PLACEHOLDER_COLOURS

    return {"item_name": item_name, "placeholder_colour": placeholder_colour, "english": english,
            "KIND_LABELS": service.KIND_LABELS, "FUNDING_LABELS": service.FUNDING_LABELS,
            "LOW_STOCK": service.LOW_STOCK}


def _village_names(actor) -> dict:
    return {v.id: v.name for v in villages.list_villages(actor)}


# --- stores ---------------------------------------------------------------------------------

@bp.route("/")
def index():
    actor = current_actor()
    return render_template("store/index.html", stores=service.list_stores(actor),
                           village_names=_village_names(actor), may_manage=may(actor, "store.manage"))


def _store_form(store, errors, form, status=200):
    actor = current_actor()
    return render_template("store/store_form.html", store=store, errors=errors, form=form,
                           villages=[(v.id, v.name) for v in villages.list_villages(actor)]), status


@bp.route("/new", methods=["GET", "POST"])
def create():
    actor = current_actor()
    authorize(actor, "store.manage")
    if request.method == "POST":
        store, errors = submit(service.create_store, actor, request.form.to_dict())
        if not errors:
            return redirect(url_for("store.detail", store_id=store.id))
        return _store_form(None, errors, request.form, 422)
    return _store_form(None, {}, {})


@bp.route("/<uuid:store_id>/edit", methods=["GET", "POST"])
def edit(store_id):
    actor = current_actor()
    authorize(actor, "store.manage")
    store = service.get_store(actor, store_id)
    if request.method == "POST":
        _store, errors = submit(service.update_store, actor, store_id, request.form.to_dict())
        if not errors:
            return redirect(url_for("store.detail", store_id=store_id))
        return _store_form(store, errors, request.form, 422)
    return _store_form(store, {}, {"name": store.name, "village_id": str(store.village_id or ""),
                                   "address": store.address, "opening_hours": store.opening_hours})


@bp.post("/<uuid:store_id>/active")
def set_active(store_id):
    """Close a store (it keeps its stock and history, takes no movements) or reopen it."""
    submit(service.update_store, current_actor(), store_id, {"active": request.form.get("active") == "1"})
    return redirect(url_for("store.detail", store_id=store_id))


def _detail(store_id, errors=None, form=None, status=200):
    """The store page; after a refused form, that form again with its errors (`form["form"]` says which)."""
    actor = current_actor()
    store = service.get_store(actor, store_id)
    may_view = may(actor, "stock.view", store)
    item_filter = request.args.get("item") or None
    ctx = {"store": store, "village_names": _village_names(actor), "may_view": may_view,
           "may_move": store.active and may(actor, "stock.move", store),
           "may_manage": may(actor, "store.manage"), "errors": errors or {}, "form": form or {},
           "keepers": service.storekeepers(actor, store_id), "item_filter": item_filter}
    if may_view:
        stock = ctx["stock"] = service.stock_of(actor, store_id)
        ctx["movements"] = service.list_movements(actor, store_id, item_filter)
        ctx["items"] = {row["item"].id: row["item"] for row in stock}
        ctx["items"] |= {m.catalog_item_id: service.get_catalog_item(actor, m.catalog_item_id)
                         for m in ctx["movements"] if m.catalog_item_id not in ctx["items"]}
        name = template_helpers()["item_name"]
        ctx["restock_items"] = [(r["item"].id, f"{name(r['item'])} ({r['item'].unit})") for r in stock
                                if r["item"].active]
        ctx["adjust_items"] = [(r["item"].id, f"{name(r['item'])} — {r['quantity']} {r['item'].unit}") for r in stock]
        ctx["funding_options"] = list(service.FUNDING_LABELS.items())
    if ctx["may_manage"]:
        ctx["people"] = [(u.id, f"{u.display_name} ({u.username})") for u in staff.list_staff(actor)
                         if u.is_active and u not in ctx["keepers"]]
    return render_template("store/detail.html", **ctx), status


@bp.get("/<uuid:store_id>")
def detail(store_id):
    return _detail(store_id)


def _moved(store_id, call, form):
    """Run a stock form's service call: back to the store page, or the page with the form's errors."""
    _movement, errors = submit(call)
    if not errors:
        return redirect(url_for("store.detail", store_id=store_id, moved=1))
    return _detail(store_id, errors, form, 422)


@bp.post("/<uuid:store_id>/restock")
def restock(store_id):
    authorize(current_actor(), "stock.move")
    f = request.form
    return _moved(store_id, lambda: service.move_stock(
        current_actor(), store_id, f.get("catalog_item_id"), "restock", f.get("delta"), f.get("funding_source"),
        service.yuan_to_fen(f.get("unit_cost_fen")), f.get("note")), f.to_dict() | {"form": "restock"})


@bp.post("/<uuid:store_id>/adjust")
def adjust(store_id):
    """A correction (± the difference) or a write-off; a write-off's count may be typed without a minus."""
    authorize(current_actor(), "stock.move")
    f = request.form
    delta = (f.get("delta") or "").strip()
    if f.get("kind") == "write_off" and delta.isdigit():
        delta = f"-{delta}"
    return _moved(store_id, lambda: service.move_stock(
        current_actor(), store_id, f.get("catalog_item_id"), f.get("kind"), delta, None, None, f.get("note")),
        f.to_dict() | {"form": "adjust"})


@bp.post("/<uuid:store_id>/storekeepers")
def assign_storekeeper(store_id):
    _user, errors = submit(service.assign_storekeeper, current_actor(), store_id, request.form.get("user_id"))
    if errors:
        return _detail(store_id, errors, request.form.to_dict() | {"form": "keeper"}, 422)
    return redirect(url_for("store.detail", store_id=store_id))


@bp.post("/<uuid:store_id>/storekeepers/remove")
def remove_storekeeper(store_id):
    _user, errors = submit(service.remove_storekeeper, current_actor(), store_id, request.form.get("user_id"))
    if errors:
        return _detail(store_id, errors, {"form": "keeper"}, 422)
    return redirect(url_for("store.detail", store_id=store_id))


# --- the catalog ----------------------------------------------------------------------------

@bp.get("/catalog")
def catalog():
    actor = current_actor()
    may_manage = may(actor, "catalog.manage")
    return render_template("store/catalog.html", items=service.list_catalog(actor, include_inactive=may_manage),
                           may_manage=may_manage)


def _item_form(item, errors, form, status=200):
    return render_template("store/item_form.html", item=item, errors=errors, form=form,
                           categories=service.categories_in_use()), status


def _photo():
    upload = request.files.get("photo")
    return upload if upload and upload.filename else None


@bp.route("/catalog/new", methods=["GET", "POST"])
def create_item():
    actor = current_actor()
    authorize(actor, "catalog.manage")
    if request.method == "POST":
        item, errors = submit(service.create_catalog_item, actor, request.form.to_dict(), _photo())
        if not errors:
            return redirect(url_for("store.catalog"))
        return _item_form(None, errors, request.form, 422)
    return _item_form(None, {}, {})


@bp.route("/catalog/<uuid:catalog_item_id>", methods=["GET", "POST"])
def edit_item(catalog_item_id):
    actor = current_actor()
    authorize(actor, "catalog.manage")
    item = service.get_catalog_item(actor, catalog_item_id)
    if request.method == "POST":
        data = request.form.to_dict() | {"active": request.form.get("active", "")}
        _item, errors = submit(service.update_catalog_item, actor, catalog_item_id, data, _photo())
        if not errors:
            return redirect(url_for("store.catalog"))
        return _item_form(item, errors, request.form, 422)
    return _item_form(item, {}, {k: "" if v is None else v for k, v in service.item_snapshot(item).items()}
                      | {"active": "1" if item.active else ""})
