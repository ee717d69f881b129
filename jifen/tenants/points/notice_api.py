"""Township API: public notices and objections."""
from __future__ import annotations

from types import SimpleNamespace

from flask import url_for
from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY, idempotent
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text
from jifen.platform.schemas import Schema
from jifen.platform.tenancy import tenant_get
from jifen.platform.web import current_actor
from jifen.tenants.points import notices
from jifen.tenants.points.applications import MAX_REASON
from jifen.tenants.points.workflow import STATE_LABELS, item_title
from jifen.tenants.villages.models import Village

blp = Blueprint("notices_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/notices",
                description="Public notices and objections")


def _d(description: str, **more) -> dict:
    return {"description": description, **more}


class NoticeSchema(Schema):
    id = fields.UUID()
    village_id = fields.UUID()
    village_name = fields.Function(lambda n: getattr(tenant_get(Village, n.village_id), "name", ""))
    number = fields.Integer(metadata=_d("1, 2, 3 … per village."))
    opens_on = fields.Date()
    closes_on = fields.Date(metadata=_d("The last day objections are taken (inclusive)."))
    status = fields.String(metadata=_d("open, or closed once the nightly job has closed it.", enum=["open", "closed"]))
    is_open = fields.Function(notices.is_open, metadata=_d("Objections are taken today.", type="boolean"))
    item_count = fields.Integer()
    public_url = fields.Function(lambda n: url_for("notices.public_notice", token=n.public_token, _external=True),
                                 metadata=_d("The public page (no sign-in); add /print for the A4 sheet.",
                                             type="string"))
    created_by_name = fields.String()
    created_at = fields.DateTime()


class ObjectionSchema(Schema):
    id = fields.UUID(dump_only=True)
    application_id = fields.UUID(required=True, metadata=_d("The notice item (an application on an open notice)."))
    notice_id = fields.UUID(dump_only=True)
    household_id = fields.UUID(dump_only=True, metadata=_d("The objector's household."))
    objector_name = fields.String(dump_only=True)
    reason = text(MAX_REASON, required=True,
                  metadata=_d(f"What is wrong with the item (at most {MAX_REASON} characters)."))
    status = fields.String(dump_only=True, metadata=_d("open, upheld or dismissed.",
                                                       enum=["open", "upheld", "dismissed"]))
    decided_by_name = fields.String(dump_only=True)
    decision_reason = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    decided_at = fields.DateTime(dump_only=True, allow_none=True)


class NoticeItemSchema(Schema):
    application_id = fields.UUID(attribute="app.id")
    household_id = fields.UUID(attribute="household.id")
    door_plate = fields.String(attribute="household.door_plate")
    head_name = fields.String(attribute="household.head_name")
    item_code = fields.String(attribute="app.item_code")
    item_title = fields.Function(lambda r: item_title(r["app"]))
    points = fields.Integer(attribute="app.points")
    occurred_on = fields.Date(attribute="app.occurred_on")
    state = fields.String(attribute="app.state", metadata=_d("The application's state (on_notice, objected, "
                                                             "posted, rejected …)."))
    state_label = fields.Function(lambda r: str(STATE_LABELS.get(r["app"].state, r["app"].state)))
    objections = fields.List(fields.Nested(ObjectionSchema))


class NoticeDetailSchema(NoticeSchema):
    items = fields.List(fields.Nested(NoticeItemSchema))


class NoticeArgs(Schema):
    village_id = fields.UUID(metadata=_d("Only this village's notices."))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class PublishSchema(Schema):
    village_id = fields.UUID(required=True, metadata=_d("Put every certified item of this village on a new notice; "
                                                        "none waiting is a 409 naming `village_id`."))


class DecisionSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["uphold", "dismiss"]), metadata=_d(
        "uphold (the item is rejected) or dismiss (it stays on notice)."))
    reason = text(MAX_REASON, required=True, metadata=_d(f"Why (at most {MAX_REASON} characters)."))


@blp.route("/")
class Notices(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(NoticeArgs, location="query")
    @blp.response(200, NoticeSchema(many=True))
    def get(self, args):
        """Notices of the caller's villages, newest first."""
        return notices.list_notices(current_actor(), args.get("village_id"), args["limit"])


@blp.route("/<uuid:notice_id>")
class NoticeDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, NoticeDetailSchema)
    def get(self, notice_id):
        """One notice with its items, each with its state and objections."""
        notice = notices.get_notice(current_actor(), notice_id)
        items = [{"app": app, "household": h, "objections": notices.objections_of(app.id)}
                 for app, h in notices.notice_items(notice)]
        return SimpleNamespace(**{k: getattr(notice, k) for k in (
            "id", "village_id", "number", "opens_on", "closes_on", "status", "item_count", "created_by_name",
            "created_at", "public_token")}, items=items)


@blp.route("/publish")
class Publish(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PublishSchema)
    @idempotent
    @blp.response(201, NoticeSchema)
    def post(self, data):
        """Publish now: a new notice with the village's certified items (township admin, village admin,
        panel member of the village). The nightly job does the same for every village."""
        return notices.publish(current_actor(), data["village_id"])


@blp.route("/objections")
class Objections(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ObjectionSchema)
    @idempotent
    @blp.response(201, ObjectionSchema)
    def post(self, data):
        """Object to a notice item while the notice is open (a villager of the village); the item goes
        back to the panel. Closed notice: 409 naming `notice`."""
        return notices.object_to(current_actor(), data["application_id"], data)


@blp.route("/objections/<uuid:objection_id>/decision")
class Decision(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(DecisionSchema)
    @blp.response(200, ObjectionSchema)
    def post(self, data, objection_id):
        """The panel upholds or dismisses an objection, with a reason."""
        return notices.decide(current_actor(), objection_id, data)
