"""Township API: the rulebook (categories, versions, items), village adoption and commitment signing."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from jifen.platform import clock
from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import FILLED_PATTERN, text, whole
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.rulebook import adoption, service, signing
from jifen.tenants.rulebook.checks import MAX_NUMBER, MIN_ATTENDANCE
from jifen.tenants.rulebook.models import AWARD, CAP_PERIODS, DEDUCTION, INITIATORS, REVIEWS, UNITS

blp = Blueprint("rulebook_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/rulebook",
                description="The rulebook, village adoption and commitment signing")

RESOLUTION_DOC = ("The villagers' representative assembly: votes_for must exceed half of `attendance`, the votes "
                  "add up to at most the attendance; in force from `adopted_on` (inclusive), after the rulebook it "
                  "replaces took force.")


class CategorySchema(Schema):
    id = fields.UUID(dump_only=True)
    name_zh = text(service.MAX_CATEGORY_ZH, required=True)
    name_en = text(service.MAX_CATEGORY_EN, load_default="")
    sort_order = whole(service.MIN_ORDER, MAX_NUMBER, allow_none=True, load_default=None,
                       metadata={"description": "empty: last"})


class ResolutionSchema(Schema):
    assembly_date = fields.Date(required=True)
    attendance = whole(MIN_ATTENDANCE, MAX_NUMBER, required=True)
    votes_for = whole(0, MAX_NUMBER, required=True)
    votes_against = whole(0, MAX_NUMBER, allow_none=True, load_default=0)
    votes_abstain = whole(0, MAX_NUMBER, allow_none=True, load_default=0)
    adopted_on = fields.Date(required=True, metadata={"description": "in force from this day (inclusive)"})


class AdoptedSchema(Schema):
    """A resolution as recorded (dump only)."""

    status = fields.String(metadata={"description": "draft | adopted | retired"})
    assembly_date = fields.Date(allow_none=True)
    attendance = fields.Integer(allow_none=True)
    votes_for = fields.Integer(allow_none=True)
    votes_against = fields.Integer(allow_none=True)
    votes_abstain = fields.Integer(allow_none=True)
    adopted_on = fields.Date(allow_none=True)
    retired_on = fields.Date(allow_none=True, metadata={"description": "in force until the day before"})
    scan_file_id = fields.UUID(allow_none=True)


class VersionSchema(AdoptedSchema):
    id = fields.UUID()
    number = fields.Integer()
    title = fields.String()
    based_on_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()


class VersionCreateSchema(Schema):
    title = text(service.MAX_TITLE, load_default="", metadata={"description": "empty: the title of the copied version"})
    based_on_id = fields.UUID(allow_none=True, load_default=None,
                              metadata={"description": "copy this version's items (codes included)"})
    # a title, or a version to copy it from (the service checks the same)
    document_rules = {"anyOf": [
        {"required": ["title"], "properties": {"title": {"type": "string", "pattern": FILLED_PATTERN}}},
        {"required": ["based_on_id"], "properties": {"based_on_id": {"type": "string", "format": "uuid"}}}]}


class VersionPatchSchema(Schema):
    title = text(service.MAX_TITLE, required=True)


ITEM_DOC = ("How the numbers relate is checked against each other, and on a PATCH against the item's stored "
            "values (409): points_min <= points_default <= points_max, cap_points and cap_period both given or "
            "both empty, cap_points >= points_min.")


class ItemSchema(Schema):
    id = fields.UUID(dump_only=True)
    version_id = fields.UUID(dump_only=True)
    category_id = fields.UUID(required=True)
    code = text(service.MAX_CODE, load_default="", metadata={"description": "stable across versions; empty: given one"})
    title_zh = text(service.MAX_TITLE, required=True)
    title_en = text(service.MAX_TITLE, load_default="")
    description = text(service.MAX_DESCRIPTION, load_default="")
    direction = fields.String(required=True, validate=validate.OneOf((AWARD, DEDUCTION)),
                              metadata={"description": "award | deduction"})
    points_min = whole(service.MIN_POINTS, MAX_NUMBER, required=True, metadata={"description": "a magnitude > 0"})
    points_max = whole(service.MIN_POINTS, MAX_NUMBER, allow_none=True, load_default=None,
                       metadata={"description": "empty: fixed points"})
    points_default = whole(service.MIN_POINTS, MAX_NUMBER, allow_none=True, load_default=None,
                           metadata={"description": "empty: points_min"})
    unit = fields.String(load_default="occurrence", validate=validate.OneOf(UNITS),
                         metadata={"description": "occurrence | day | month"})
    cap_points = whole(service.MIN_POINTS, MAX_NUMBER, allow_none=True, load_default=None)
    cap_period = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(CAP_PERIODS),
                               metadata={"description": "month | year"})
    evidence_required = fields.Boolean(load_default=False)
    initiator = fields.String(load_default="household", validate=validate.OneOf(INITIATORS),
                              metadata={"description": "household | staff"})
    review = fields.String(load_default="certification", validate=validate.OneOf(REVIEWS),
                           metadata={"description": "certification | verification"})
    sort_order = whole(service.MIN_ORDER, MAX_NUMBER, allow_none=True, load_default=None)


class EffectiveItemSchema(Schema):
    item_id = fields.UUID(attribute="item.id")
    code = fields.String(attribute="item.code")
    category_id = fields.UUID(attribute="item.category_id")
    title_zh = fields.String(attribute="item.title_zh")
    title_en = fields.String(attribute="item.title_en")
    direction = fields.String(attribute="item.direction")
    enabled = fields.Boolean()
    points = fields.Integer(metadata={"description": "the village's points, else the item's usual points"})
    overridden = fields.Boolean()
    points_min = fields.Integer(attribute="item.points_min")
    points_max = fields.Integer(attribute="item.points_max")
    points_default = fields.Integer(attribute="item.points_default")
    unit = fields.String(attribute="item.unit")
    cap_points = fields.Integer(attribute="item.cap_points", allow_none=True)
    cap_period = fields.String(attribute="item.cap_period", allow_none=True)
    evidence_required = fields.Boolean(attribute="item.evidence_required")
    initiator = fields.String(attribute="item.initiator")
    review = fields.String(attribute="item.review")


class VillageRulebookSchema(AdoptedSchema):
    id = fields.UUID()
    village_id = fields.UUID()
    version_id = fields.UUID()
    created_at = fields.DateTime()


class VillageRulebookDetailSchema(VillageRulebookSchema):
    items = fields.List(fields.Nested(EffectiveItemSchema))


class StartSchema(Schema):
    version_id = fields.UUID(allow_none=True, load_default=None,
                             metadata={"description": "the township's adopted version (default)"})


class SettingSchema(Schema):
    enabled = fields.Boolean(load_default=True)
    points = whole(service.MIN_POINTS, MAX_NUMBER, allow_none=True, load_default=None,
                   metadata={"description": "within the item's range (else 409); empty: the item's usual points"})


class ScanSchema(Schema):
    scan = Upload(required=True, metadata={"description": "the signed resolution: a PDF or a photo"})


class InForceQuerySchema(Schema):
    village_id = fields.UUID(load_default=None, metadata={"description": "empty: the township's version"})
    day = fields.Date(load_default=None, metadata={"description": "the day of the conduct; empty: today"})


class InForceSchema(Schema):
    day = fields.Date()
    version = fields.Nested(VersionSchema, allow_none=True)
    village_rulebook = fields.Nested(VillageRulebookSchema, allow_none=True)
    items = fields.List(fields.Nested(EffectiveItemSchema))


class SignatureSchema(Schema):
    id = fields.UUID(dump_only=True)
    village_rulebook_id = fields.UUID(dump_only=True)
    household_id = fields.UUID(required=True)
    signed_on = fields.Date(required=True)
    signer_name = text(signing.MAX_NAME, required=True,
                       metadata={"description": "free text: who signed for the household"})
    witness_name = text(signing.MAX_NAME, required=True)
    scan_file_id = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class BulkSignatureSchema(Schema):
    household_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1),
                                metadata={"description": "households of this village that signed together"})
    signed_on = fields.Date(required=True)
    witness_name = text(signing.MAX_NAME, required=True)


class ReportQuerySchema(Schema):
    village_id = fields.UUID(load_default=None)
    grid_node_id = fields.UUID(load_default=None, metadata={"description": "unsigned list: this subtree only"})
    page = fields.Integer(load_default=1)


class VillageRateSchema(Schema):
    village_id = fields.UUID(attribute="village.id")
    name = fields.String(attribute="village.name")
    village_rulebook_id = fields.Function(lambda r: r.rulebook.id if r.rulebook else None, allow_none=True)
    total = fields.Integer()
    signed = fields.Integer()
    percent = fields.Float(allow_none=True)


class NodeRateSchema(Schema):
    grid_node_id = fields.UUID(attribute="node.id")
    name = fields.String(attribute="node.name")
    level = fields.Integer(attribute="node.level")
    parent_id = fields.UUID(attribute="node.parent_id", allow_none=True)
    total = fields.Integer(metadata={"description": "active households of the whole subtree"})
    signed = fields.Integer()
    percent = fields.Float(allow_none=True)


class HouseholdRefSchema(Schema):
    id = fields.UUID()
    head_name = fields.String()
    door_plate = fields.String()
    village_id = fields.UUID()
    grid_node_id = fields.UUID()


class UnsignedPageSchema(Schema):
    total = fields.Integer()
    page = fields.Integer()
    pages = fields.Integer()
    items = fields.List(fields.Nested(HouseholdRefSchema), metadata={"description": "pinyin order of the head"})


class SigningReportSchema(Schema):
    villages = fields.List(fields.Nested(VillageRateSchema))
    grid = fields.List(fields.Nested(NodeRateSchema), attribute="nodes")
    unsigned = fields.Nested(UnsignedPageSchema)


# --- categories ----------------------------------------------------------------------------------

@blp.route("/categories")
class Categories(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, CategorySchema(many=True))
    def get(self):
        """In display order (sort_order)."""
        return service.list_categories(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(CategorySchema)
    @blp.response(201, CategorySchema)
    def post(self, data):
        category = service.create_category(current_actor(), data)
        return category


@blp.route("/categories/standard")
class StandardCategories(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(201, CategorySchema(many=True))
    def post(self):
        """Add the standard categories the township does not have yet; returns those added."""
        added = service.add_standard_categories(current_actor())
        return added


@blp.route("/categories/<uuid:category_id>")
class CategoryDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(CategorySchema(partial=True))
    @blp.response(200, CategorySchema)
    def patch(self, data, category_id):
        """Rename or reorder."""
        actor = current_actor()
        current = service.get_category(actor, category_id)
        merged = {"name_zh": current.name_zh, "name_en": current.name_en, "sort_order": current.sort_order} | data
        category = service.update_category(actor, category_id, merged)
        return category


# --- versions and items --------------------------------------------------------------------------

@blp.route("/versions")
class Versions(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, VersionSchema(many=True))
    def get(self):
        """Newest first."""
        return service.list_versions(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(VersionCreateSchema, required=True)  # a title, or a version to copy: never nothing
    @blp.response(201, VersionSchema)
    def post(self, data):
        """A new draft, empty or a copy of another version's items."""
        version = service.create_version(current_actor(), data)
        return version


@blp.route("/versions/<uuid:version_id>")
class VersionDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, VersionSchema)
    def get(self, version_id):
        return service.get_version(current_actor(), version_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(VersionPatchSchema)
    @blp.response(200, VersionSchema)
    def patch(self, data, version_id):
        """Drafts only: an adopted or retired version is read-only (409)."""
        version = service.update_version(current_actor(), version_id, data)
        return version


@blp.route("/versions/<uuid:version_id>/adopt")
class VersionAdopt(MethodView):
    @blp.doc(security=SECURITY, description=RESOLUTION_DOC)
    @blp.arguments(ResolutionSchema)
    @blp.response(200, VersionSchema)
    def post(self, data, version_id):
        """Adopt a draft; the version adopted before it is retired on `adopted_on`."""
        version = service.adopt_version(current_actor(), version_id, data)
        return version


@blp.route("/versions/<uuid:version_id>/scan")
class VersionScan(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ScanSchema, location="form", content_type="multipart/form-data")
    @blp.response(200, VersionSchema)
    def post(self, files, version_id):
        """Attach the scanned resolution (multipart field `scan`: a PDF or a photo)."""
        version = service.attach_version_scan(current_actor(), version_id, files["scan"])
        return version


@blp.route("/versions/<uuid:version_id>/items")
class Items(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, ItemSchema(many=True))
    def get(self, version_id):
        """In reading order: by category, then the item's order."""
        return service.version_items(current_actor(), version_id)

    @blp.doc(security=SECURITY, description=ITEM_DOC)
    @blp.arguments(ItemSchema)
    @blp.response(201, ItemSchema)
    def post(self, data, version_id):
        item = service.create_item(current_actor(), version_id, data)
        return item


@blp.route("/items/<uuid:item_id>")
class ItemDetail(MethodView):
    @blp.doc(security=SECURITY, description=ITEM_DOC)
    @blp.arguments(ItemSchema(partial=True))
    @blp.response(200, ItemSchema)
    def patch(self, data, item_id):
        actor = current_actor()
        current = service.get_item(actor, item_id)
        item = service.update_item(actor, item_id, {k: getattr(current, k) for k in service.ITEM_FIELDS} | data)
        return item

    @blp.doc(security=SECURITY)
    @blp.response(204)
    def delete(self, item_id):
        service.delete_item(current_actor(), item_id)


@blp.route("/in-force")
class InForce(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(InForceQuerySchema, location="query")
    @blp.response(200, InForceSchema)
    def get(self, args):
        """The rules that judge conduct of `day`: the village's adoption in force that day and its
        effective items (or, with no village, the township's version). Empty when none was in force."""
        day = args["day"] or clock.today()
        rules = adoption.view_rules_in_force(current_actor(), args["village_id"], day)
        if rules is None:
            return {"day": day, "version": None, "village_rulebook": None, "items": []}
        return {"day": day, "version": rules.version, "village_rulebook": rules.village_rulebook,
                "items": rules.items}


# --- village adoption ----------------------------------------------------------------------------

def _detail(vr, items) -> dict:
    return {k: getattr(vr, k) for k in VillageRulebookSchema().fields} | {"items": items}


@blp.route("/villages/<uuid:village_id>/rulebooks")
class VillageRulebooks(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, VillageRulebookSchema(many=True))
    def get(self, village_id):
        """Newest first."""
        return adoption.list_village_rulebooks(current_actor(), village_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(StartSchema)
    @blp.response(201, VillageRulebookDetailSchema)
    def post(self, data, village_id):
        """Start the village's draft from the township's adopted version."""
        actor = current_actor()
        vr = adoption.start_village_rulebook(actor, village_id, data)
        return _detail(vr, adoption.village_items(actor, vr.id))


@blp.route("/village-rulebooks/<uuid:village_rulebook_id>")
class VillageRulebookDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, VillageRulebookDetailSchema)
    def get(self, village_rulebook_id):
        actor = current_actor()
        return _detail(adoption.get_village_rulebook(actor, village_rulebook_id),
                       adoption.village_items(actor, village_rulebook_id))


@blp.route("/village-rulebooks/<uuid:village_rulebook_id>/items/<uuid:item_id>")
class VillageItem(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(SettingSchema)
    @blp.response(200, EffectiveItemSchema)
    def put(self, data, village_rulebook_id, item_id):
        """Switch an item on or off and set its points within the item's range (draft only)."""
        effective = adoption.set_village_item(current_actor(), village_rulebook_id, item_id, data)
        return effective


@blp.route("/village-rulebooks/<uuid:village_rulebook_id>/adopt")
class VillageAdopt(MethodView):
    @blp.doc(security=SECURITY, description=RESOLUTION_DOC)
    @blp.arguments(ResolutionSchema)
    @blp.response(200, VillageRulebookSchema)
    def post(self, data, village_rulebook_id):
        """Adopt the village's draft; its previously adopted rulebook is retired on `adopted_on`."""
        vr = adoption.adopt_village_rulebook(current_actor(), village_rulebook_id, data)
        return vr


@blp.route("/village-rulebooks/<uuid:village_rulebook_id>/scan")
class VillageScan(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ScanSchema, location="form", content_type="multipart/form-data")
    @blp.response(200, VillageRulebookSchema)
    def post(self, files, village_rulebook_id):
        """Attach the village assembly's scanned resolution (multipart field `scan`)."""
        vr = adoption.attach_village_scan(current_actor(), village_rulebook_id, files["scan"])
        return vr


# --- commitment signing --------------------------------------------------------------------------

@blp.route("/village-rulebooks/<uuid:village_rulebook_id>/signatures")
class Signatures(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(SignatureSchema)
    @blp.response(201, SignatureSchema)
    def post(self, data, village_rulebook_id):
        """Record a household's signature of its village's adopted rulebook (once per household)."""
        signature = signing.record_signature(current_actor(), village_rulebook_id, data)
        return signature


@blp.route("/village-rulebooks/<uuid:village_rulebook_id>/signatures/bulk")
class BulkSignatures(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(BulkSignatureSchema)
    @blp.response(201, SignatureSchema(many=True))
    def post(self, data, village_rulebook_id):
        """Many households signed on one day before one witness (each signer: the household head);
        all or none: one that cannot sign refuses the whole batch."""
        signatures = signing.record_signatures(current_actor(), village_rulebook_id, data["household_ids"],
                                               {"signed_on": data["signed_on"], "witness_name": data["witness_name"]})
        return signatures


@blp.route("/signing-report")
class SigningReport(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, SigningReportSchema)
    def get(self, args):
        """Signing rate per village and per grid node (subtrees rolled up), and the households that
        have not signed (paginated, 50 a page), within the caller's scope."""
        actor = current_actor()
        report = signing.signing_report(actor, args["village_id"])
        unsigned = signing.unsigned_households(actor, args["village_id"], args["grid_node_id"], args["page"])
        return {"villages": report.villages, "nodes": report.nodes, "unsigned": unsigned}
