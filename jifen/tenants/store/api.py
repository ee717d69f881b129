"""Township API: points stores, the reward catalog, stock and its movements."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import FILLED_PATTERN, text, whole
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.store import service
from jifen.tenants.store.models import FUNDING_SOURCES, MOVEMENT_KINDS

blp = Blueprint("store_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/stores",
                description="Points stores, the catalog and stock")


def _d(text: str, **more) -> dict:
    return {"description": text, **more}


class StoreSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = text(service.MAX_NAME, required=True, metadata=_d(
        f"Unique in the township, at most {service.MAX_NAME} characters."))
    village_id = fields.UUID(allow_none=True, metadata=_d("The village the store belongs to; null: shared by the "
                                                          "whole township."))
    address = text(service.MAX_ADDRESS, metadata=_d(f"Where the store is (at most {service.MAX_ADDRESS} characters)."))
    opening_hours = text(service.MAX_HOURS, metadata=_d(
        f"Free text, e.g. 每周六 9:00-12:00 (at most {service.MAX_HOURS} characters)."))
    active = fields.Boolean(metadata=_d("False: closed; it keeps its stock and history but takes no movements."))
    created_at = fields.DateTime(dump_only=True)


class KeeperSchema(Schema):
    id = fields.UUID(metadata=_d("The user's id (see the staff API)."))
    username = fields.String()
    display_name = fields.String()


class StoreDetailSchema(StoreSchema):
    storekeepers = fields.List(fields.Nested(KeeperSchema), dump_only=True,
                               metadata=_d("Users whose storekeeper role is scoped to this store; "
                                           "give or take the role through the staff API."))


class CatalogItemSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = text(service.MAX_NAME, required=True, metadata=_d(
        f"Chinese name, unique in the township (at most {service.MAX_NAME} characters)."))
    name_en = text(service.MAX_NAME_EN, metadata=_d("English name (optional)."))
    category = text(service.MAX_CATEGORY, metadata=_d("Free text, e.g. " + ", ".join(service.CATEGORY_SUGGESTIONS) + "."))
    price_points = whole(1, service.MAX_PRICE, required=True,
                         metadata=_d(f"Price in points: a whole number from 1 to {service.MAX_PRICE}."))
    unit = text(service.MAX_UNIT, required=True, metadata=_d(
        f"What one unit is, e.g. 支, 袋, 瓶 (at most {service.MAX_UNIT} characters)."))
    description = text(service.MAX_DESCRIPTION)
    active = fields.Boolean(metadata=_d("False: withdrawn from the catalog (no restocking; stock left is kept)."))
    sort_order = whole(-service.MAX_SORT_ORDER, service.MAX_SORT_ORDER,
                       metadata=_d("Smaller first; equal values sort by pinyin of name."))
    photo_file_id = fields.UUID(dump_only=True, allow_none=True)
    photo_url = fields.Function(lambda i: url_for("files.download", file_id=i.photo_file_id) if i.photo_file_id
                                else None, dump_only=True, allow_none=True,
                                metadata=_d("The photo (JPEG), or null: show a placeholder.", type="string"))
    created_at = fields.DateTime(dump_only=True)


class CatalogArgs(Schema):
    include_inactive = fields.Boolean(load_default=False, metadata=_d("Also list withdrawn items."))


class PhotoSchema(Schema):
    photo = Upload(required=True, metadata=_d("A JPEG or PNG photo, at most 8 MB; stored re-encoded as JPEG."))


class StockRowSchema(Schema):
    catalog_item_id = fields.UUID()
    name = fields.String(attribute="item.name")
    name_en = fields.String(attribute="item.name_en")
    unit = fields.String(attribute="item.unit")
    item_active = fields.Boolean(attribute="item.active")
    quantity = fields.Integer()
    low = fields.Boolean(metadata=_d(f"Quantity is {service.LOW_STOCK} or fewer."))


class StockSchema(Schema):
    low_stock_at = fields.Integer(metadata=_d("Items with this many or fewer are flagged low."))
    items = fields.List(fields.Nested(StockRowSchema),
                        metadata=_d("Every active catalog item (and withdrawn ones still in stock)."))


class MovementSchema(Schema):
    id = fields.UUID(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    catalog_item_id = fields.UUID(required=True)
    kind = fields.String(required=True, metadata=_d(
        "restock (delta > 0, funding_source required), correction (delta ≠ 0, note required) or write_off "
        "(delta < 0, note required). redemption movements come from store orders only.",
        enum=list(MOVEMENT_KINDS)))
    delta = fields.Integer(required=True, strict=True, metadata=_d("The change in stock; never below zero."))
    quantity_after = fields.Integer(dump_only=True)
    funding_source = fields.String(allow_none=True, metadata=_d("Who paid (restocks only).",
                                                                enum=list(FUNDING_SOURCES)))
    unit_cost_fen = fields.Integer(allow_none=True, strict=True, metadata=_d("What one unit cost, in fen "
                                                                             "(restocks only, optional)."))
    note = fields.String(metadata=_d("The reason (required for corrections and write-offs)."))
    actor_id = fields.UUID(dump_only=True, allow_none=True)
    actor_name = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


_NULL = {"nullable": True, "enum": [None]}  # left out or null
_REASON = {"type": "string", "pattern": FILLED_PATTERN}  # given, not blank


class MovementInSchema(Schema):
    """A restock, correction or write-off as sent; what each kind needs of the other fields is in
    `document_rules` (the service checks the same, `service._check_movement`)."""

    catalog_item_id = fields.UUID(required=True, metadata=_d("An item of the catalog; a restock needs an active one "
                                                             "(409 naming it otherwise, or if it names no item)."))
    kind = fields.String(required=True, validate=validate.OneOf(service.USER_KINDS), metadata=_d(
        "restock (delta > 0, funding_source required), correction (delta ≠ 0, note required) or write_off "
        "(delta < 0, note required). redemption movements come from store orders only."))
    delta = whole(-service.MAX_DELTA, service.MAX_DELTA, required=True, metadata=_d(
        "The change in stock; never below zero (409 naming it when more is taken than is left)."))
    funding_source = fields.String(allow_none=True, validate=validate.OneOf(FUNDING_SOURCES),
                                   metadata=_d("Who paid (restocks only)."))
    unit_cost_fen = whole(0, service.MAX_UNIT_COST_FEN, allow_none=True, metadata=_d(
        "What one unit cost, in fen (restocks only, optional)."))
    note = text(service.MAX_NOTE, metadata=_d("The reason (required for corrections and write-offs)."))

    document_rules = {"oneOf": [
        {"properties": {"kind": {"enum": ["restock"]}, "delta": {"minimum": 1},
                        "funding_source": {"type": "string"}}, "required": ["funding_source"]},
        {"properties": {"kind": {"enum": ["correction"]}, "delta": {"not": {"enum": [0]}},
                        "funding_source": _NULL, "unit_cost_fen": _NULL, "note": _REASON}, "required": ["note"]},
        {"properties": {"kind": {"enum": ["write_off"]}, "delta": {"maximum": -1},
                        "funding_source": _NULL, "unit_cost_fen": _NULL, "note": _REASON}, "required": ["note"]},
    ]}


class MovementArgs(Schema):
    catalog_item_id = fields.UUID(metadata=_d("Only this item's movements."))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


@blp.route("/")
class Stores(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, StoreSchema(many=True))
    def get(self):
        """Every store of the township, open ones first, in pinyin order."""
        return service.list_stores(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(StoreSchema)
    @blp.response(201, StoreSchema)
    def post(self, data):
        """Open a store (township admin)."""
        return service.create_store(current_actor(), data)


@blp.route("/<uuid:store_id>")
class StoreDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, StoreDetailSchema)
    def get(self, store_id):
        """One store with its storekeepers."""
        actor = current_actor()
        store = service.get_store(actor, store_id)
        return {k: getattr(store, k) for k in StoreSchema().fields} | {
            "storekeepers": service.storekeepers(actor, store_id)}

    @blp.doc(security=SECURITY)
    @blp.arguments(StoreSchema(partial=True))
    @blp.response(200, StoreSchema)
    def patch(self, data, store_id):
        """Edit, close (active false) or reopen a store; fields left out keep their values."""
        return service.update_store(current_actor(), store_id, data)


@blp.route("/<uuid:store_id>/stock")
class Stock(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, StockSchema)
    def get(self, store_id):
        """The store's stock per item (township admin; village admin of its village; its storekeeper)."""
        return {"low_stock_at": service.LOW_STOCK, "items": service.stock_of(current_actor(), store_id)}


@blp.route("/<uuid:store_id>/movements")
class Movements(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(MovementArgs, location="query")
    @blp.response(200, MovementSchema(many=True))
    def get(self, args, store_id):
        """The store's stock movements, newest first."""
        return service.list_movements(current_actor(), store_id, args.get("catalog_item_id"), args["limit"])

    @blp.doc(security=SECURITY)
    @blp.arguments(MovementInSchema)
    @blp.response(201, MovementSchema)
    def post(self, data, store_id):
        """Record a restock, correction or write-off (township admin, the store's storekeeper)."""
        return service.move_stock(
            current_actor(), store_id, data["catalog_item_id"], data["kind"], data["delta"],
            data.get("funding_source"), data.get("unit_cost_fen"), data.get("note", ""))


@blp.route("/movements/<uuid:movement_id>")
class MovementDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, MovementSchema)
    def get(self, movement_id):
        """One stock movement."""
        return service.get_movement(current_actor(), movement_id)


@blp.route("/catalog")
class Catalog(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(CatalogArgs, location="query")
    @blp.response(200, CatalogItemSchema(many=True))
    def get(self, args):
        """The township's reward catalog, in its order then pinyin order of name."""
        return service.list_catalog(current_actor(), args["include_inactive"])

    @blp.doc(security=SECURITY)
    @blp.arguments(CatalogItemSchema)
    @blp.response(201, CatalogItemSchema)
    def post(self, data):
        """Add an item (township admin); add its photo with PUT …/photo."""
        return service.create_catalog_item(current_actor(), data)


@blp.route("/catalog/<uuid:catalog_item_id>")
class CatalogItemDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, CatalogItemSchema)
    def get(self, catalog_item_id):
        return service.get_catalog_item(current_actor(), catalog_item_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(CatalogItemSchema(partial=True))
    @blp.response(200, CatalogItemSchema)
    def patch(self, data, catalog_item_id):
        """Edit, withdraw (active false) or restore an item; fields left out keep their values."""
        return service.update_catalog_item(current_actor(), catalog_item_id, data)


@blp.route("/catalog/<uuid:catalog_item_id>/photo")
class CatalogPhoto(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PhotoSchema, location="form", content_type="multipart/form-data")
    @blp.response(200, CatalogItemSchema)
    def put(self, files, catalog_item_id):
        """Upload or replace the item's photo (multipart/form-data, field `photo`)."""
        return service.update_catalog_item(current_actor(), catalog_item_id, {}, photo=files["photo"])
