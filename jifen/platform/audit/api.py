"""Township API: read the audit log and check its hash chain."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform import retention
from jifen.platform.api import SECURITY
from jifen.platform.audit import service
from jifen.platform.audit.labels import action_label, object_label
from jifen.platform.blueprint import Blueprint
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor

blp = Blueprint("audit_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/audit",
                description="Audit log")


class EntrySchema(Schema):
    seq = fields.Integer()
    created_at = fields.DateTime()
    actor_kind = fields.String()
    actor_id = fields.UUID(allow_none=True)
    actor_name = fields.String()
    action = fields.String()
    action_label = fields.Function(lambda e: str(action_label(e.action)), dump_only=True,
                                   metadata={"description": "The action in words, in the request's language."})
    object_type = fields.String()
    object_label = fields.Function(lambda e: object_label(e.object_type), dump_only=True,
                                   metadata={"description": "The object's kind in words, in the request's language."})
    object_id = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    request_id = fields.String(allow_none=True)
    entry_hash = fields.String()


class ListArgs(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    before_seq = fields.Integer(load_default=None, validate=validate.Range(min=1))


class ReportSchema(Schema):
    entries = fields.Integer()
    ok = fields.Boolean()
    first_bad_seq = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True)


@blp.route("/")
class Entries(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, EntrySchema(many=True))
    def get(self, args):
        """Newest first; page with before_seq."""
        return service.list_entries(current_actor(), **args)


@blp.route("/verify")
class Verify(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, ReportSchema)
    def post(self):
        """Recompute the chain's hashes and report the first break, if any."""
        return service.verify(current_actor())


class RetentionSchema(Schema):
    key = fields.String(metadata={"description": "What is kept, as a stable name (e.g. notifications)."})
    what = fields.String(metadata={"description": "The same, in the reader's language."})
    rule = fields.String(metadata={"description": "How long it is kept, in the reader's language."})


@blp.route("/retention")
class Retention(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, RetentionSchema(many=True))
    def get(self):
        """How long the township's data of each kind is kept (township admins)."""
        return retention.policy(current_actor())
