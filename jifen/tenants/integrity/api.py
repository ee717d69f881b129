"""Township API: integrity signals (list, one, review)."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.integrity import service
from jifen.tenants.integrity.models import KINDS, STATUSES

blp = Blueprint("integrity_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/integrity",
                description="Integrity signals: patterns worth a look; they never block anything")


def _d(text: str, **more) -> dict:
    return {"description": text, **more}


class RecordSchema(Schema):
    type = fields.String(metadata=_d("What the id names.", enum=["application", "household", "activity",
                                                                 "dividend_pool", "file"]))
    id = fields.String()


class SignalSchema(Schema):
    id = fields.UUID()
    kind = fields.String(metadata=_d("Which detector found it.", enum=list(KINDS)))
    village_id = fields.UUID(allow_none=True, metadata=_d("null: township-wide (several villages)."))
    subject_user_id = fields.UUID(allow_none=True, metadata=_d("The staff member it is about, if any."))
    subject_name = fields.String()
    household_id = fields.UUID(allow_none=True)
    records = fields.List(fields.Nested(RecordSchema), metadata=_d("The records it links to."))
    numbers = fields.Dict(metadata=_d("The numbers that explain it (by kind)."))
    text = fields.Method("_explained", metadata=_d("The signal in plain words, in the request's language.",
                                              type="string"))
    detected_on = fields.Date()
    status = fields.String(metadata=_d("open or reviewed.", enum=list(STATUSES)))
    reviewed_by_name = fields.String()
    reviewed_at = fields.DateTime(allow_none=True)
    review_reason = fields.String()

    def _explained(self, signal):
        return service.explain(signal)


class SignalListArgs(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES), metadata=_d("Only open or only reviewed signals."))
    kind = fields.String(validate=validate.OneOf(KINDS), metadata=_d("Only this kind."))
    village_id = fields.UUID(metadata=_d("Only this village's signals."))


class ReviewSchema(Schema):
    reason = text(service.MAX_REASON, required=True, metadata=_d("What the reviewer found (required)."))


@blp.route("/signals")
class Signals(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(SignalListArgs, location="query")
    @blp.response(200, SignalSchema(many=True))
    def get(self, args):
        """Signals within your reach, newest first (at most 200)."""
        return service.list_signals(current_actor(), service.filters_from(args))


@blp.route("/signals/<uuid:signal_id>")
class SignalDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, SignalSchema)
    def get(self, signal_id):
        return service.get_signal(current_actor(), signal_id)


@blp.route("/signals/<uuid:signal_id>/review")
class Review(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ReviewSchema)
    @blp.response(200, SignalSchema)
    def post(self, data, signal_id):
        """Mark reviewed with a reason (panel member, township admin); audited. Again: 409. A signal about
        yourself: 403."""
        return service.review(current_actor(), signal_id, data)
