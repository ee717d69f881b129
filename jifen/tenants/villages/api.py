"""Township API: villages."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text, whole
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.villages import service

blp = Blueprint("villages_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/villages",
                description="Villages of the township")


class VillageSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = text(service.MAX_NAME, required=True, metadata={"description": "Unique in the township."})
    code = text(service.MAX_CODE, required=True, metadata={"description": "Unique in the township."})
    sort_order = whole(-service.MAX_ORDER, service.MAX_ORDER, load_default=0)
    created_at = fields.DateTime(dump_only=True)


@blp.route("/")
class Villages(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, VillageSchema(many=True))
    def get(self):
        """Villages in pinyin order of name."""
        return service.list_villages(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(VillageSchema)
    @blp.response(201, VillageSchema)
    def post(self, data):
        village = service.create_village(current_actor(), data)
        return village


@blp.route("/<uuid:village_id>")
class VillageDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, VillageSchema)
    def get(self, village_id):
        return service.get_village(current_actor(), village_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(VillageSchema(partial=True))
    @blp.response(200, VillageSchema)
    def patch(self, data, village_id):
        actor = current_actor()
        current = service.get_village(actor, village_id)
        merged = {"name": current.name, "code": current.code, "sort_order": current.sort_order} | data
        village = service.update_village(actor, village_id, merged)
        return village
