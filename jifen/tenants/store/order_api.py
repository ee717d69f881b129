"""Township API: Store orders (redemption)"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY, idempotent
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text, whole
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.store import orders
from jifen.tenants.store.models import ORDER_STATES

blp = Blueprint("orders_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/orders", description="Store orders (redemption)")


def _d(text: str, **more) -> dict:
    return {"description": text, **more}


class OrderLineInSchema(Schema):
    catalog_item_id = fields.UUID(required=True, metadata=_d(
        "An active item of the reward catalog (409 naming `lines` otherwise)."))
    quantity = whole(1, orders.MAX_QUANTITY, required=True, metadata=_d(
        f"How many: a whole number from 1 to {orders.MAX_QUANTITY}; refused (409 naming `quantity`) beyond the "
        "store's stock (repeats of an item add up)."))


class PlaceOrderSchema(Schema):
    household_id = fields.UUID(allow_none=True, metadata=_d(
        "The household ordering. A villager may leave it out for their own household; staff name it "
        "(409 naming it otherwise, or if it names no household of the township)."))
    store_id = fields.UUID(allow_none=True, metadata=_d(
        "The store; default: the household's village store, else the township store. It must serve the "
        "household's village (409 naming it otherwise)."))
    lines = fields.List(fields.Nested(OrderLineInSchema), required=True,
                        validate=validate.Length(min=1, max=orders.MAX_LINES), metadata=_d(
        f"What is ordered, at most {orders.MAX_LINES} different items; repeats of an item add up."))
    hand_over = fields.Boolean(load_default=False, metadata=_d(
        "The counter (storekeeper, township admin): the goods go over at once and the points are spent in the "
        "same transaction. Otherwise the points are reserved until the hand-over."))


class OrderLineSchema(Schema):
    catalog_item_id = fields.UUID()
    item_name = fields.String(metadata=_d("The item's name when ordered."))
    item_name_en = fields.String()
    unit = fields.String()
    quantity = fields.Integer()
    unit_points = fields.Integer(metadata=_d("The price of one unit when ordered."))


class OrderSchema(Schema):
    id = fields.UUID()
    number = fields.Integer(metadata=_d("Numbered 1, 2, 3 … in the township."))
    store_id = fields.UUID()
    household_id = fields.UUID()
    state = fields.String(metadata=_d(
        "open: points reserved and goods put aside; handed_over: points spent; cancelled or expired "
        f"(not collected within {orders.ORDER_DAYS} days): points and goods released.", enum=list(ORDER_STATES)))
    channel = fields.String(metadata=_d("phone: the villager ordered; counter: placed by staff.",
                                        enum=["phone", "counter"]))
    total_points = fields.Integer()
    period = fields.Integer(metadata=_d("The ledger period (year) the points were reserved in."))
    placed_at = fields.DateTime()
    placed_by_name = fields.String()
    closed_at = fields.DateTime(allow_none=True)
    closed_by_name = fields.String()
    cancel_reason = fields.String()
    lines = fields.List(fields.Nested(OrderLineSchema), attribute="line_rows", metadata=_d("The items."))
    pickup_code = fields.String(attribute="shown_pickup_code", allow_none=True, metadata=_d(
        "A phone order's 4-digit pickup code, to show at the store counter. Only the ordering household's "
        "villager reads it; for everyone else (staff ask for it at hand-over) and for counter orders it is null."))


def _with_lines(found):
    """Attach each order's lines (one query for a list) and its pickup code as the reader may see
    it (`orders.pickup_code_for`) for the schema."""
    many = isinstance(found, list)
    rows = found if many else [found]
    lines, actor = orders.lines_of(rows), current_actor()
    for o in rows:
        o.line_rows = lines[o.id]
        o.shown_pickup_code = orders.pickup_code_for(actor, o)
    return found


class OrderListArgs(Schema):
    store_id = fields.UUID(metadata=_d("Only this store's orders."))
    household_id = fields.UUID(metadata=_d("Only this household's orders."))
    state = fields.String(validate=validate.OneOf(ORDER_STATES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class HandOverSchema(Schema):
    pickup_code = fields.String(validate=validate.Length(max=20), metadata=_d(
        "The pickup code the villager shows, required for a phone order (`channel` phone): missing or not the "
        "order's, 422 naming `pickup_code`. Spaces, dashes and full-width digits are read as typed at a counter."))


class OrderCancelSchema(Schema):
    reason = text(orders.MAX_REASON, load_default="", metadata=_d(
        f"Why (at most {orders.MAX_REASON} characters, optional)."))


@blp.route("/")
class Orders(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(OrderListArgs, location="query")
    @blp.response(200, OrderSchema(many=True))
    def get(self, args):
        """Orders within reach, newest first: a villager's household's, a storekeeper's store's, a village
        admin's village's, a township admin's all."""
        return _with_lines(orders.list_orders(current_actor(), store_id=args.get("store_id"),
                                              household_id=args.get("household_id"), state=args.get("state"),
                                              limit=args["limit"]))

    @blp.doc(security=SECURITY)
    @blp.arguments(PlaceOrderSchema)
    @idempotent
    @blp.response(201, OrderSchema)
    def post(self, data):
        """Place an order: the goods are taken from stock and the points reserved in one transaction
        (with `hand_over`, also spent). Refused with 409 naming `lines` (an item not in the catalog),
        `quantity` (more than in stock) or `points` (more than available). Send an `Idempotency-Key`: a
        retry makes one order."""
        return _with_lines(orders.place_order(current_actor(), data))


@blp.route("/<uuid:order_id>")
class OrderDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, OrderSchema)
    def get(self, order_id):
        return _with_lines(orders.get_order(current_actor(), order_id))


@blp.route("/<uuid:order_id>/hand-over")
class HandOver(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HandOverSchema)
    @blp.response(200, OrderSchema)
    def post(self, data, order_id):
        """The storekeeper handed the goods over: the reserved points are spent. A phone order needs the
        villager's `pickup_code` (422 naming it otherwise). 409 if the order is no longer open (handed
        over, cancelled or expired)."""
        return _with_lines(orders.hand_over(current_actor(), order_id, data.get("pickup_code")))


@blp.route("/<uuid:order_id>/cancel")
class Cancel(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(OrderCancelSchema)
    @blp.response(200, OrderSchema)
    def post(self, data, order_id):
        """Cancel an open order (its household's villager, the store's storekeeper, a township admin):
        the goods go back to stock, the points back to the household. 409 if it is no longer open."""
        return _with_lines(orders.cancel(current_actor(), order_id, data.get("reason", "")))
