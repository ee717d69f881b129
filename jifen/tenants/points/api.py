"""Township API: Applications and their judging (self-applications, proxy entries, staff records,
batch sheets, verification, certification votes, the work queue)."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from jifen.platform.api import SECURITY, idempotent
from jifen.platform.blueprint import Blueprint
from jifen.platform.errors import InputConflict
from jifen.platform.input import FILLED_PATTERN, text
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.points import applications, notices
from jifen.tenants.points.models import ORIGINS
from jifen.tenants.points.workflow import STATE_LABELS, STATES, item_title

blp = Blueprint("applications_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/points",
                description="Applications and their judging, public notices, objections")


MULTIPART = "multipart/form-data"


def _d(description: str, **more) -> dict:
    return {"description": description, **more}


# --- schemas -----------------------------------------------------------------------------------------

class ApplicationStepSchema(Schema):
    step = fields.String(metadata=_d("submit, confirm, withdraw, verify, reject, vote, certify, decline, publish, "
                                     "object, uphold, dismiss, post, correct."))
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    points = fields.Integer(allow_none=True)
    reason = fields.String()
    actor_name = fields.String()
    created_at = fields.DateTime()


class CertificationVoteSchema(Schema):
    member_id = fields.UUID()
    member_name = fields.String()
    decision = fields.String(metadata=_d("approve or reject."))
    reason = fields.String()
    created_at = fields.DateTime()


class ApplicationObjectionSchema(Schema):
    id = fields.UUID()
    objector_name = fields.String()
    reason = fields.String()
    status = fields.String(metadata=_d("open, upheld or dismissed."))
    decided_by_name = fields.String()
    decision_reason = fields.String()
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)


class ApplicationSchema(Schema):
    id = fields.UUID()
    household_id = fields.UUID()
    village_id = fields.UUID()
    item_id = fields.UUID(metadata=_d("The rule item of the rulebook in force on occurred_on."))
    item_code = fields.String()
    item_title = fields.Function(lambda a: item_title(a), metadata=_d("The item's Chinese title.", type="string"))
    points = fields.Integer(metadata=_d("Signed: awards > 0, deductions < 0."))
    occurred_on = fields.Date()
    description = fields.String()
    origin = fields.String(metadata=_d("Where it came from.", enum=list(ORIGINS)))
    state = fields.String(metadata=_d("Where it is in the workflow.", enum=list(STATES)))
    state_label = fields.Function(lambda a: str(STATE_LABELS.get(a.state, a.state)), metadata=_d("", type="string"))
    submitted_by_name = fields.String()
    confirmed_at = fields.DateTime(allow_none=True, metadata=_d("When the household confirmed a proxy entry."))
    batch_id = fields.UUID(allow_none=True)
    verified_by_name = fields.String()
    verified_at = fields.DateTime(allow_none=True)
    certified_at = fields.DateTime(allow_none=True)
    notice_id = fields.UUID(allow_none=True)
    posted_points = fields.Integer(allow_none=True)
    reject_reason = fields.String()
    created_at = fields.DateTime()


class ApplicationDetailSchema(ApplicationSchema):
    photos = fields.Function(lambda a: [{"file_id": str(p.file_id), "url": url_for("files.download", file_id=p.file_id)}
                                        for p in applications.photos_of(a.id)],
                             metadata=_d("Evidence photos (JPEG).", type="array", items={"type": "object"}))
    steps = fields.Function(lambda a: ApplicationStepSchema(many=True).dump(applications.steps_of(a.id)),
                            metadata=_d("The full history, oldest first.", type="array", items={"type": "object"}))
    votes = fields.Function(lambda a: CertificationVoteSchema(many=True).dump(applications.tally(a.id).voters),
                            metadata=_d("Panel votes so far.", type="array", items={"type": "object"}))
    quorum = fields.Function(lambda a: applications.settings().quorum,
                             metadata=_d("Approvals needed to certify.", type="integer"))
    objections = fields.Function(lambda a: ApplicationObjectionSchema(many=True).dump(notices.objections_of(a.id)),
                                 metadata=_d("Objections raised during public notice.", type="array",
                                             items={"type": "object"}))


ITEM_GIVEN = {"anyOf": [{"required": ["item_id"]}, {"required": ["item_code"]}]}  # the item: by id or by code


def _item_ref(description: str = "") -> fields.String:
    """item_id or item_code: one of the two is given (ITEM_GIVEN), and not blank."""
    field = text(applications.MAX_ITEM_REF, required=True, metadata=_d(description) if description else {})
    field.required = False
    return field


class ApplicationFormSchema(Schema):
    """A multipart/form-data body: the fields and the photos."""
    document_rules = ITEM_GIVEN

    household_id = fields.UUID(metadata=_d("The household. For a self-application it may be left out when the "
                                           "account belongs to one household."))
    item_id = _item_ref("A rule item id (or give item_code): an award item households apply for.")
    item_code = _item_ref("The item's code, e.g. A1 (instead of item_id).")
    occurred_on = fields.Date(required=True, metadata=_d("The day it happened, YYYY-MM-DD; not in the future, "
                                                         "not before last year."))
    description = text(applications.MAX_DESCRIPTION, required=True,
                       metadata=_d(f"What happened (at most {applications.MAX_DESCRIPTION} characters)."))
    photos = fields.List(Upload(), load_default=list, validate=validate.Length(max=applications.MAX_PHOTOS),
                         metadata=_d(f"Up to {applications.MAX_PHOTOS} photos (JPEG or PNG, at most 8 MB each); "
                                     "required when the item needs evidence."))


class ProxyFormSchema(ApplicationFormSchema):
    household_id = fields.UUID(required=True, metadata=_d("The household filed for."))


class StaffRecordSchema(Schema):
    document_rules = ITEM_GIVEN

    household_id = fields.UUID(required=True)
    item_id = _item_ref("Any enabled rule item (award or deduction), or give item_code.")
    item_code = _item_ref()
    occurred_on = fields.Date(required=True, metadata=_d("YYYY-MM-DD; not in the future, not before last year."))
    description = text(applications.MAX_DESCRIPTION, required=True,
                       metadata=_d(f"At most {applications.MAX_DESCRIPTION} characters."))
    points = fields.Integer(strict=True, allow_none=True,
                            metadata=_d("Magnitude within the item's range; left out: the item's usual points."))


class BatchSheetRowSchema(Schema):
    household_id = fields.UUID(required=True)
    points = fields.Integer(required=True, strict=True,
                            metadata=_d("Within the item's range. A household without a score: leave its row out."))
    note = text(applications.MAX_NOTE, metadata=_d(f"Optional, at most {applications.MAX_NOTE} characters."))


class BatchSheetInSchema(Schema):
    document_rules = ITEM_GIVEN

    item_id = _item_ref("Or give item_code.")
    item_code = _item_ref()
    occurred_on = fields.Date(required=True, metadata=_d("YYYY-MM-DD; not in the future, not before last year."))
    title = text(applications.MAX_TITLE, required=True,
                 metadata=_d(f"e.g. 三月卫生检查 (at most {applications.MAX_TITLE} characters)."))
    grid_node_id = fields.UUID(allow_none=True, metadata=_d("The grid node the sheet covers (for the record)."))
    rows = fields.List(fields.Nested(BatchSheetRowSchema), required=True, validate=validate.Length(min=1),
                       metadata=_d("One row per household; all are written or none (errors name rows.<i>.<field>)."))


class BatchSheetSchema(Schema):
    id = fields.UUID()
    village_id = fields.UUID()
    grid_node_id = fields.UUID(allow_none=True)
    item_id = fields.UUID()
    title = fields.String()
    occurred_on = fields.Date()
    row_count = fields.Integer()
    created_by_name = fields.String()
    created_at = fields.DateTime()
    application_ids = fields.List(fields.UUID())


class ApplicationListArgs(Schema):
    state = fields.String(validate=validate.OneOf(STATES))
    village_id = fields.UUID()
    household_id = fields.UUID()
    batch_id = fields.UUID()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=applications.MAX_PER_PAGE))


class ApplicationPageSchema(Schema):
    items = fields.List(fields.Nested(ApplicationSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()


class VerifyInSchema(Schema):
    points = fields.Integer(strict=True, allow_none=True,
                            metadata=_d("Adjusted points (magnitude, within the item's range); needs a reason."))
    reason = text(applications.MAX_REASON, metadata=_d(f"Why the points were changed (at most "
                                                        f"{applications.MAX_REASON} characters)."))


class ApplicationReasonSchema(Schema):
    reason = text(applications.MAX_REASON, required=True,
                  metadata=_d(f"Why (at most {applications.MAX_REASON} characters)."))


class VoteDecisionSchema(Schema):
    document_rules = {"anyOf": [{"properties": {"decision": {"enum": ["approve"]}}},
                                {"required": ["reason"], "properties": {"reason": {"pattern": FILLED_PATTERN}}}]}

    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = text(applications.MAX_REASON, metadata=_d("Required to reject."))


class WorkQueueObjectionSchema(Schema):
    objection = fields.Nested(ApplicationObjectionSchema)
    application = fields.Nested(ApplicationSchema)


class WorkQueueSchema(Schema):
    to_verify = fields.List(fields.Nested(ApplicationSchema), metadata=_d("Submitted, in your area, oldest first."))
    to_certify = fields.List(fields.Nested(ApplicationSchema),
                             metadata=_d("Verified, in your village, not yet decided by you, not your household."))
    objections = fields.List(fields.Nested(WorkQueueObjectionSchema), metadata=_d("Open objections to decide."))


# --- applications coming to be -------------------------------------------------------------------------

def _self_household(data: dict):
    """The household given, or the account's one household (the account's households decide: 409)."""
    if data.get("household_id"):
        return data["household_id"]
    own = applications.applicant_households(current_actor())
    if len(own) != 1:
        raise InputConflict.field("household_id", _("Say which household.") if own else
                                  _("Your account is not linked to a household."))
    return own[0].id


def _form(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("household_id", "photos")}


@blp.route("/applications")
class Applications(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ApplicationListArgs, location="query")
    @blp.response(200, ApplicationPageSchema)
    def get(self, args):
        """Applications in your area (a villager: their household's), newest first."""
        page = applications.list_applications(current_actor(), **args)
        return {"items": [a for a, _hh in page.items], "total": page.total, "page": page.page,
                "per_page": page.per_page, "pages": page.pages}

    @blp.doc(security=SECURITY)
    @idempotent
    @blp.arguments(ApplicationFormSchema, location="form", content_type=MULTIPART)
    @blp.response(201, ApplicationDetailSchema)
    def post(self, data):
        """Self-application (multipart/form-data): a villager applies for an award item for their
        household. Send an Idempotency-Key header so a retry makes one application."""
        return applications.self_apply(current_actor(), _self_household(data), _form(data), data["photos"])


@blp.route("/applications/proxy")
class ProxyApplications(MethodView):
    @blp.doc(security=SECURITY)
    @idempotent
    @blp.arguments(ProxyFormSchema, location="form", content_type=MULTIPART)
    @blp.response(201, ApplicationDetailSchema)
    def post(self, data):
        """Proxy entry (multipart/form-data): a grid worker or cadre files for a household without a
        phone; the household is asked to confirm."""
        return applications.proxy_apply(current_actor(), data["household_id"], _form(data), data["photos"])


@blp.route("/records")
class Records(MethodView):
    @blp.doc(security=SECURITY)
    @idempotent
    @blp.arguments(StaffRecordSchema)
    @blp.response(201, ApplicationDetailSchema)
    def post(self, data):
        """A staff record of observed conduct (award or deduction) for one household; it starts
        verified."""
        return applications.record_conduct(current_actor(), data["household_id"], _form(data))


@blp.route("/batches")
class Batches(MethodView):
    @blp.doc(security=SECURITY)
    @idempotent
    @blp.arguments(BatchSheetInSchema)
    @blp.response(201, BatchSheetSchema)
    def post(self, data):
        """A batch sheet: one item, one day, a score per household of one village. All rows are
        written or none."""
        batch = applications.record_batch(current_actor(), data)
        page = applications.list_applications(current_actor(), batch_id=batch.id, per_page=applications.MAX_PER_PAGE)
        return {k: getattr(batch, k) for k in ("id", "village_id", "grid_node_id", "item_id", "title", "occurred_on",
                                              "row_count", "created_by_name", "created_at")} | {
            "application_ids": [a.id for a, _hh in page.items]}


# --- one application and its judging -----------------------------------------------------------------------

@blp.route("/applications/<uuid:application_id>")
class ApplicationDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, ApplicationDetailSchema)
    def get(self, application_id):
        """One application with its photos, history, panel votes and objections."""
        return applications.get_application(current_actor(), application_id)


@blp.route("/applications/<uuid:application_id>/verify")
class Verify(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(VerifyInSchema)
    @blp.response(200, ApplicationDetailSchema)
    def post(self, data, application_id):
        """The work team accepts it, optionally adjusting the points (with a reason)."""
        return applications.verify(current_actor(), application_id, data)


@blp.route("/applications/<uuid:application_id>/reject")
class Reject(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ApplicationReasonSchema)
    @blp.response(200, ApplicationDetailSchema)
    def post(self, data, application_id):
        """The work team rejects it, with a reason."""
        return applications.reject(current_actor(), application_id, data)


@blp.route("/applications/<uuid:application_id>/vote")
class Vote(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(VoteDecisionSchema)
    @blp.response(200, ApplicationDetailSchema)
    def post(self, data, application_id):
        """A panel member approves or rejects (with a reason); the quorum certifies or rejects it.
        Not for your own household, nor a second vote: 409."""
        return applications.vote(current_actor(), application_id, data)


@blp.route("/applications/<uuid:application_id>/withdraw")
class Withdraw(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, ApplicationDetailSchema)
    def post(self, application_id):
        """The household withdraws its application before it is verified."""
        return applications.withdraw(current_actor(), application_id)


@blp.route("/applications/<uuid:application_id>/confirm")
class Confirm(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, ApplicationDetailSchema)
    def post(self, application_id):
        """The household confirms an application filed on its behalf."""
        return applications.confirm(current_actor(), application_id)


@blp.route("/queue")
class WorkQueue(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, WorkQueueSchema)
    def get(self):
        """待办: what waits for you, oldest first."""
        q = applications.work_queue(current_actor())
        return {"to_verify": [a for a, _hh in q.to_verify], "to_certify": [a for a, _hh in q.to_certify],
                "objections": [{"objection": o, "application": a} for o, a, _hh in q.objections]}

