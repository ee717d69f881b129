"""Township API: households, their members, splits, merges, status, history and tags.

The list answers a wrapper object `{items, total, page, per_page, pages}` (one JSON body a client
can page through without reading headers). Every change answers the household as its page shows
it: ID numbers masked for everyone (`POST .../identity` shows them in full to those who may see
them, and the audit log records it), phones masked unless the caller may see them (`phones_visible`).
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import FILLED_PATTERN, text, whole
from jifen.platform.schemas import NO_NUL, Schema
from jifen.platform.web import current_actor
from jifen.tenants.households import rules, service
from jifen.tenants.households.models import ACTIVE, STATUSES

blp = Blueprint("households_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/households",
                description="Households and residents")


class HouseholdTagRefSchema(Schema):
    code = fields.String()
    label = fields.String()


class HouseholdTagSchema(Schema):
    id = fields.UUID(dump_only=True, allow_none=True, metadata={"description": "null for a built-in tag"})
    code = fields.String(dump_only=True)
    name_zh = text(service.MAX_TAG_ZH, required=True, metadata={"description": "unique among the tags' names"})
    name_en = text(service.MAX_TAG_EN, metadata={"description": "defaults to the Chinese name"})
    label = fields.String(dump_only=True, metadata={"description": "the name in the request's language"})
    builtin = fields.Boolean(dump_only=True)


def _filled(limit: int, **kwargs) -> fields.String:
    """A text a PATCH may leave out, but not send blank: `text(required=True)` without the
    requirement to be present."""
    field = text(limit, required=True, **kwargs)
    field.required = False
    return field


def _relation(choices, **kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(choices), **kwargs)


def _phone() -> fields.String:
    return fields.String(allow_none=True, validate=validate.Regexp(rules.PHONE_PATTERN), metadata={
        "description": "an 11-digit mobile number or a landline with its area code; empty or null: none"})


def _id_number() -> fields.String:
    return fields.String(allow_none=True, validate=validate.Regexp(rules.ID_NUMBER_PATTERN), metadata={
        "format": rules.ID_NUMBER_FORMAT,
        "description": "the 18-character resident ID number: 17 digits, then the check digit of GB 11643 (a digit "
                       "or X); empty or null: none"})


class MemberInSchema(Schema):
    """A member of a new household: exactly one of them is the head."""
    name = text(rules.MAX_NAME, required=True)
    relation = _relation(service.RELATION_CHOICES, required=True,
                         metadata={"description": "head, spouse, child, … or 户主, 配偶, 子, 女, …"})
    phone = _phone()
    id_number = _id_number()


class NewMemberSchema(MemberInSchema):
    """A member joining a household that has its head."""
    relation = _relation(service.MEMBER_RELATIONS, required=True, metadata={
        "description": "spouse, child, … or 配偶, 子, 女, … (not head: add the member, then make them head)"})


class MemberPatchSchema(Schema):
    name = _filled(rules.MAX_NAME)
    relation = _relation(service.RELATION_CHOICES, metadata={
        "description": "head, spouse, child, … or 户主, 配偶, 子, 女, …; head hands the household over to "
                       "this member"})
    phone = _phone()
    id_number = _id_number()
    sort_order = whole(-service.MAX_ORDER, service.MAX_ORDER)
    previous_head_relation = _relation(service.MEMBER_RELATIONS, allow_none=True, metadata={
        "description": "when this member becomes head: the former head's new relation (default other)"})


class MemberSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    relation = fields.String()
    phone = fields.String(metadata={"description": "masked unless phones_visible"})
    id_number = fields.String(metadata={"description": "masked unless identity_visible"})
    sort_order = fields.Integer()
    left_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()


def _tags(**kwargs) -> fields.List:
    return fields.List(text(service.MAX_TAG_EN), allow_none=True, **kwargs)


class HouseholdInSchema(Schema):
    village_id = fields.UUID(required=True)
    grid_node_id = fields.UUID(required=True, metadata={"description": "an active micro (level 4) node of the village"})
    door_plate = text(rules.MAX_DOOR_PLATE, required=True)
    note = text(service.MAX_NOTE)
    tags = _tags(metadata={"description": "tag codes or names"})
    members = fields.List(fields.Nested(MemberInSchema), required=True, validate=validate.Length(min=1), metadata={
        "description": "exactly one with relation head, and an ID number at most once; a list that breaks either "
                       "(a rule among the entries, which OpenAPI 3.0 cannot state) is a 409 naming the entry"})


class HouseholdPatchSchema(Schema):
    village_id = fields.UUID()
    grid_node_id = fields.UUID()
    door_plate = _filled(rules.MAX_DOOR_PLATE)
    note = text(service.MAX_NOTE)
    tags = _tags()


class HouseholdEventSchema(Schema):
    id = fields.UUID()
    kind = fields.String(metadata={"description": "created, split_off, split_from, merged_into, merged_from, status"})
    happened_on = fields.Date()
    actor_name = fields.String()
    other_household_id = fields.UUID(allow_none=True)
    other_door_plate = fields.String(allow_none=True)
    other_head_name = fields.String(allow_none=True)
    details = fields.Dict()


class HouseholdSummarySchema(Schema):
    id = fields.UUID()
    village_id = fields.UUID()
    village_name = fields.String()
    grid_node_id = fields.UUID()
    grid_node_name = fields.String()
    door_plate = fields.String()
    head_name = fields.String()
    head_pinyin = fields.String()
    status = fields.String()
    tags = fields.List(fields.Nested(HouseholdTagRefSchema))
    member_count = fields.Integer()


class HouseholdSchema(HouseholdSummarySchema):
    note = fields.String()
    merged_into_id = fields.UUID(allow_none=True)
    grid_path = fields.List(fields.String())
    identity_visible = fields.Boolean(metadata={"description": "ID numbers in full (only from POST .../identity)"})
    may_reveal_identity = fields.Boolean(metadata={"description": "the caller may ask for the full ID numbers"})
    phones_visible = fields.Boolean()
    members = fields.List(fields.Nested(MemberSchema))
    former_members = fields.List(fields.Nested(MemberSchema))
    history = fields.List(fields.Nested(HouseholdEventSchema))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class HouseholdPageSchema(Schema):
    items = fields.List(fields.Nested(HouseholdSummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()


class HouseholdSearchArgsSchema(Schema):
    q = fields.String(load_default="", validate=NO_NUL,
                      metadata={"description": "name, pinyin, pinyin initials or door plate"})
    village_id = fields.UUID(load_default=None)
    grid_node_id = fields.UUID(load_default=None, metadata={"description": "the node's whole subtree"})
    tag = fields.String(load_default=None, validate=NO_NUL, metadata={"description": "tag code or name"})
    status = fields.String(load_default="active", validate=validate.OneOf([*STATUSES, "all"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=service.MAX_PER_PAGE))


class MemberLeaveSchema(Schema):
    left_on = fields.Date(allow_none=True, metadata={"description": "default today; not in the future"})


class HouseholdStatusSchema(Schema):
    # active, or a reason for moving out or dissolving (the service checks the same)
    document_rules = {"anyOf": [{"properties": {"status": {"enum": [ACTIVE]}}},
                                {"required": ["reason"], "properties": {"reason": {"pattern": FILLED_PATTERN}}}]}

    status = fields.String(required=True, validate=validate.OneOf(service.SETTABLE_STATUSES))
    reason = text(service.MAX_REASON, metadata={"description": "required for moved_out and dissolved"})


class MemberMoveSchema(Schema):
    resident_id = fields.UUID(required=True)
    relation = _relation(service.RELATION_CHOICES, allow_none=True,
                         metadata={"description": "relation to the new household's head (default other)"})


class MemberMergeSchema(MemberMoveSchema):
    relation = _relation(service.MEMBER_RELATIONS, allow_none=True,
                         metadata={"description": "relation to the receiving household's head (default other)"})


class HouseholdSplitSchema(Schema):
    members = fields.List(fields.Nested(MemberMoveSchema), required=True, validate=validate.Length(min=1), metadata={
        "description": "who moves; exactly one becomes head of the new household (else a 409 naming members)"})
    door_plate = text(rules.MAX_DOOR_PLATE, required=True)
    grid_node_id = fields.UUID(allow_none=True, metadata={"description": "default: the household's micro node"})
    note = text(service.MAX_NOTE)
    tags = _tags()


class HouseholdMergeSchema(Schema):
    into_household_id = fields.UUID(required=True)
    members = fields.List(fields.Nested(MemberMergeSchema), allow_none=True,
                          metadata={"description": "relations to the receiving head; members left out: other"})


def _detail(household_id):
    return service.household_detail(current_actor(), household_id)


@blp.route("/")
class Households(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HouseholdSearchArgsSchema, location="query")
    @blp.response(200, HouseholdPageSchema)
    def get(self, args):
        """Search the households in your area, ordered by the head's pinyin, then door plate."""
        return service.search_households(current_actor(), **args)

    @blp.doc(security=SECURITY)
    @blp.arguments(HouseholdInSchema)
    @blp.response(201, HouseholdSchema)
    def post(self, data):
        """Register a household with its members."""
        return _detail(service.create_household(current_actor(), data).id)


@blp.route("/tags")
class Tags(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, HouseholdTagSchema(many=True))
    def get(self):
        """Built-in tags, then the township's own."""
        return service.list_tags(current_actor())

    @blp.doc(security=SECURITY)
    @blp.arguments(HouseholdTagSchema)
    @blp.response(201, HouseholdTagSchema)
    def post(self, data):
        """Add a township tag; its code is made from the Chinese name's pinyin."""
        tag = service.create_tag(current_actor(), data)
        return service.Tag(tag.code, tag.name_zh, tag.name_en, tag.id)


@blp.route("/tags/<uuid:tag_id>")
class TagDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HouseholdTagSchema(partial=True))
    @blp.response(200, HouseholdTagSchema)
    def patch(self, data, tag_id):
        """Rename a township tag (its code, and so the households' tags, stay)."""
        tag = service.rename_tag(current_actor(), tag_id, data)
        return service.Tag(tag.code, tag.name_zh, tag.name_en, tag.id)


@blp.route("/<uuid:household_id>")
class HouseholdDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, HouseholdSchema)
    def get(self, household_id):
        return _detail(household_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(HouseholdPatchSchema)
    @blp.response(200, HouseholdSchema)
    def patch(self, data, household_id):
        """Change door plate, village and micro grid, note or tags; fields left out stay."""
        service.update_household(current_actor(), household_id, data)
        return _detail(household_id)


@blp.route("/<uuid:household_id>/identity")
class HouseholdIdentity(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, HouseholdSchema)
    def post(self, household_id):
        """The household with its members' full ID numbers, for those who may see them (township admins,
        the village's admins); each call is recorded in the audit log (identity.read)."""
        return service.household_detail(current_actor(), household_id, reveal=True)


@blp.route("/<uuid:household_id>/members")
class Members(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(NewMemberSchema)
    @blp.response(201, HouseholdSchema)
    def post(self, data, household_id):
        service.add_member(current_actor(), household_id, data)
        return _detail(household_id)


@blp.route("/<uuid:household_id>/members/<uuid:resident_id>")
class MemberDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(MemberPatchSchema)
    @blp.response(200, HouseholdSchema)
    def patch(self, data, household_id, resident_id):
        """Edit a member; relation head hands the household over to them."""
        service.update_member(current_actor(), household_id, resident_id, data)
        return _detail(household_id)


@blp.route("/<uuid:household_id>/members/<uuid:resident_id>/leave")
class MemberLeaves(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(MemberLeaveSchema)
    @blp.response(200, HouseholdSchema)
    def post(self, data, household_id, resident_id):
        """The member leaves; the record stays in the household's former members."""
        service.member_leaves(current_actor(), household_id, resident_id, data)
        return _detail(household_id)


@blp.route("/<uuid:household_id>/split")
class Split(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HouseholdSplitSchema)
    @blp.response(201, HouseholdSchema)
    def post(self, data, household_id):
        """Move members into a new household of the same village; answers the new household."""
        return _detail(service.split_household(current_actor(), household_id, data).id)


@blp.route("/<uuid:household_id>/merge")
class Merge(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HouseholdMergeSchema)
    @blp.response(200, HouseholdSchema)
    def post(self, data, household_id):
        """Merge this household into another; answers the receiving household."""
        return _detail(service.merge_household(current_actor(), household_id, data).id)


@blp.route("/<uuid:household_id>/status")
class Status(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HouseholdStatusSchema)
    @blp.response(200, HouseholdSchema)
    def post(self, data, household_id):
        service.set_status(current_actor(), household_id, data)
        return _detail(household_id)


@blp.route("/<uuid:household_id>/history")
class History(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, HouseholdEventSchema(many=True))
    def get(self, household_id):
        """Created, split, merged, status changes: newest first, naming the other household."""
        return service.household_history(current_actor(), household_id)
