"""Township API: The in-app inbox."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.notifications import service

blp = Blueprint("inbox_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/inbox", description="The in-app inbox")


class NotificationSchema(Schema):
    id = fields.UUID()
    household_id = fields.UUID()
    kind = fields.String(metadata={"description": "What happened, e.g. verified, posted, objected."})
    text = fields.Function(service.text_of, metadata={"description": "The message in the caller's language.",
                                                       "type": "string"})
    params = fields.Dict(metadata={"description": "The values the message is made from."})
    link = fields.String(metadata={"description": "A path inside the township, e.g. applications/<id>."})
    created_at = fields.DateTime()
    read = fields.Function(lambda n: n.read_at is not None, metadata={"type": "boolean"})


class InboxSchema(Schema):
    unread = fields.Integer()
    items = fields.List(fields.Nested(NotificationSchema))


class InboxArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class MarkedSchema(Schema):
    marked = fields.Integer(metadata={"description": "How many notifications were marked read."})


@blp.route("/")
class Inbox(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(InboxArgs, location="query")
    @blp.response(200, InboxSchema)
    def get(self, args):
        """The notifications of the caller's household, newest first (villagers)."""
        actor = current_actor()
        return {"unread": service.unread_count(actor), "items": service.inbox(actor, args["limit"])}


@blp.route("/read")
class Read(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, MarkedSchema)
    def post(self):
        """Mark every notification of the caller's household read."""
        return {"marked": service.mark_read(current_actor())}
