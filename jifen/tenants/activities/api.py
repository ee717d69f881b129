"""Township API: Activities, sign-up, attendance, check-in."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY, idempotent
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import text
from jifen.platform.roles.authz import may
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.activities import service
from jifen.tenants.points.workflow import STATES

blp = Blueprint("activities_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/activities", description="Activities, sign-up, attendance, check-in")


def _d(text: str, **more) -> dict:
    return {"description": text, **more}


class ActivitySchema(Schema):
    id = fields.UUID(dump_only=True)
    village_id = fields.UUID(required=True, metadata=_d("The village holding it; only its households take part."))
    item_code = text(service.MAX_ITEM_CODE, required=True,
                     metadata=_d("Code of the award item attendance earns, in force and enabled in the village on "
                                 "held_on (else 409)."))
    title = text(service.MAX_TITLE, required=True, metadata=_d("e.g. 义务植树 (at most 200 characters)."))
    description = text(service.MAX_DESCRIPTION, metadata=_d("At most 2000 characters."))
    place = text(service.MAX_PLACE, metadata=_d("At most 200 characters."))
    held_on = fields.Date(required=True, metadata=_d("This year or last year (else 409)."))
    status = fields.String(dump_only=True, metadata=_d("open, or closed (no more sign-up or check-in).",
                                                        enum=["open", "closed"]))
    checkin_code = fields.Method("_code", dump_only=True, allow_none=True,
                                 metadata=_d("The 6-digit check-in code; only for those who manage the activity, "
                                             "else null.", type="string"))
    created_by_name = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)

    def _code(self, activity):
        return activity.checkin_code if may(current_actor(), "activity.manage", activity) else None


class ActivityDetailSchema(ActivitySchema):
    signed_up = fields.Integer(dump_only=True, metadata=_d("Households signed up."))
    attended = fields.Integer(dump_only=True, metadata=_d("Households that attended."))


class ActivityListArgs(Schema):
    village_id = fields.UUID(metadata=_d("Only this village's activities."))


class ActivitySignupSchema(Schema):
    household_id = fields.UUID(allow_none=True, metadata=_d("Staff: the household to sign up. A villager may leave it "
                                                            "out for their own household."))


class ActivitySignupOutSchema(Schema):
    activity_id = fields.UUID()
    household_id = fields.UUID()
    created_at = fields.DateTime()


class AttendanceMarkSchema(Schema):
    household_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=service.MAX_MARK),
                                metadata=_d("Households that attended (of the activity's village, in your area). All "
                                            "are marked or none; households already marked are left as they are."))


class AttendanceSchema(Schema):
    household_id = fields.UUID()
    checked_in = fields.Boolean(metadata=_d("True: the villager checked in with the code; false: staff marked it."))
    application_id = fields.UUID(allow_none=True, metadata=_d("The application the attendance made."))
    marked_by_name = fields.String()
    created_at = fields.DateTime()


class AttendanceMarkedSchema(Schema):
    created = fields.List(fields.Nested(AttendanceSchema), metadata=_d("Attendance marked by this request."))
    already_marked = fields.List(fields.UUID(), metadata=_d("Households that had attended before."))


class ActivityCheckinSchema(Schema):
    code = text(service.MAX_CHECKIN_INPUT, required=True, metadata=_d("The check-in code read out at the activity."))
    household_id = fields.UUID(allow_none=True, metadata=_d("Which of your households (if you have several "
                                                            "in the village)."))


class ParticipationRowSchema(Schema):
    tag = fields.String(attribute="code", allow_none=True, metadata=_d("Household tag code; null: all households."))
    label = fields.String()
    households = fields.Integer(metadata=_d("Active households of the village (with this tag)."))
    signed_up = fields.Integer()
    attended = fields.Integer()
    points_posted = fields.Integer(metadata=_d("Points of their attendance applications already posted."))
    points_pending = fields.Integer(metadata=_d("Points of applications still on their way."))


class AttendanceStateSchema(Schema):
    state = fields.String(metadata=_d("Application state.", enum=list(STATES)))
    count = fields.Integer()
    points = fields.Integer()


class ParticipationSchema(Schema):
    activity_id = fields.UUID()
    rows = fields.List(fields.Nested(ParticipationRowSchema))
    applications = fields.List(fields.Nested(AttendanceStateSchema), metadata=_d("Attendance applications by state."))


def _detail(activity):
    counts = service.counts(activity.id)
    activity.signed_up, activity.attended = counts["signed_up"], counts["attended"]
    return activity


@blp.route("/")
class Activities(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ActivityListArgs, location="query")
    @blp.response(200, ActivitySchema(many=True))
    def get(self, args):
        """Activities of the villages in your area (a villager: of their village), newest day first."""
        return service.list_activities(current_actor(), args.get("village_id"))

    @blp.doc(security=SECURITY)
    @blp.arguments(ActivitySchema)
    @idempotent
    @blp.response(201, ActivityDetailSchema)
    def post(self, data):
        """Create an activity (work team, village admin); a check-in code is generated."""
        return _detail(service.create_activity(current_actor(), data))


@blp.route("/<uuid:activity_id>")
class ActivityDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, ActivityDetailSchema)
    def get(self, activity_id):
        return _detail(service.get_activity(current_actor(), activity_id))

    @blp.doc(security=SECURITY)
    @blp.arguments(ActivitySchema(partial=True))
    @blp.response(200, ActivityDetailSchema)
    def patch(self, data, activity_id):
        """Edit; the village, day and item are fixed once anyone attended."""
        return _detail(service.update_activity(current_actor(), activity_id, data))


@blp.route("/<uuid:activity_id>/close")
class Close(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, ActivityDetailSchema)
    def post(self, activity_id):
        """Close: no more sign-up or check-in."""
        return _detail(service.close_activity(current_actor(), activity_id))


@blp.route("/<uuid:activity_id>/signups")
class Signups(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ActivitySignupSchema)
    @idempotent
    @blp.response(201, ActivitySignupOutSchema)
    def post(self, data, activity_id):
        """Sign up a household (a villager: their own; staff: any in their area). Repeating it changes nothing."""
        return service.sign_up(current_actor(), activity_id, data.get("household_id"))


@blp.route("/<uuid:activity_id>/signups/cancel")
class CancelSignup(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ActivitySignupSchema)
    @blp.response(204)
    def post(self, data, activity_id):
        """Cancel a sign-up (not after the household attended)."""
        service.cancel_sign_up(current_actor(), activity_id, data.get("household_id"))


@blp.route("/<uuid:activity_id>/attendance")
class AttendanceView(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(AttendanceMarkSchema)
    @idempotent
    @blp.response(201, AttendanceMarkedSchema)
    def post(self, data, activity_id):
        """Mark attendance (work team, village admin): each new attendance makes an application that starts
        verified (certified for verification-only items)."""
        marked = service.mark_attendance(current_actor(), activity_id, [str(h) for h in data["household_ids"]])
        return {"created": marked.created, "already_marked": marked.already}


@blp.route("/<uuid:activity_id>/checkin")
class Checkin(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ActivityCheckinSchema)
    @idempotent
    @blp.response(201, AttendanceSchema)
    def post(self, data, activity_id):
        """A villager checks in with the code (open activity, from the day before to the day after it is
        held); the application waits for verification. A wrong code is 409 naming `code`."""
        return service.check_in(current_actor(), activity_id, data["code"], data.get("household_id"))


@blp.route("/<uuid:activity_id>/report")
class ReportView(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, ParticipationSchema)
    def get(self, activity_id):
        """Participation overall and by household tag, with the points attendance earned."""
        report = service.participation_report(current_actor(), activity_id)
        return {"activity_id": report.activity.id, "rows": report.rows,
                "applications": [{"state": s, "count": n, "points": p} for s, (n, p) in report.states.items()]}
