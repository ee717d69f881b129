"""API of the daily job runs: a township admin reads their township's runs; a county operator reads,
per township of their county, counts only."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import whole
from jifen.platform.jobs import service
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor

blp = Blueprint("jobs_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/jobs", description="Daily job runs")
county_blp = Blueprint("county_jobs_api", __name__, url_prefix="/api/v1/county/jobs",
                       description="County console: daily job runs per township (counts)")

STATES = "claimed (waiting for a worker), running, done, failed, or missing (its time passed and no run was claimed)"


class JobDaysArgs(Schema):
    days = whole(1, service.MAX_DAYS, strict=False, load_default=service.DAYS,
                 metadata={"description": "How many local days back, today included."})


class JobRunSchema(Schema):
    id = fields.UUID(allow_none=True, metadata={"description": "None for a missing run."})
    job = fields.String()
    local_date = fields.Date()
    status = fields.String(metadata={"description": STATES})
    late = fields.Boolean(metadata={"description": "Claimed and not started after 15 minutes, or running over "
                                                   "three times its usual time (at least 10 minutes)."})
    needs_attention = fields.Boolean()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    rows = fields.Integer(allow_none=True, metadata={"description": "Rows the job touched, when it counts them."})
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    gave_up = fields.Boolean(metadata={"description": "Failed with no attempt left; the admins were told."})
    problems = fields.Integer(metadata={"description": "What a check job found wrong (0 for other jobs)."})
    error = fields.String(allow_none=True)
    result = fields.Dict()


class TownshipJobRunsSchema(Schema):
    slug = fields.String(attribute="tenant.slug")
    name = fields.String(attribute="tenant.name")
    status = fields.String(attribute="tenant.status")
    done = fields.Integer()
    failed = fields.Integer()
    running = fields.Integer()
    late = fields.Integer()
    missing = fields.Integer()
    problems = fields.Integer()
    needs_attention = fields.Boolean()


@blp.route("/")
class Runs(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(JobDaysArgs, location="query")
    @blp.response(200, JobRunSchema(many=True))
    def get(self, args):
        """Each daily job per local day, newest first; a missing run has no id."""
        return service.list_runs(current_actor(), days=args["days"])


@blp.route("/<run_id>")
class Run(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, JobRunSchema)
    def get(self, run_id):
        return service.get_run(current_actor(), run_id)


@county_blp.route("/")
class CountyRuns(MethodView):
    @county_blp.doc(security=SECURITY)
    @county_blp.arguments(JobDaysArgs, location="query")
    @county_blp.response(200, TownshipJobRunsSchema(many=True))
    def get(self, args):
        """Per township of the operator's county (pinyin order of names), counts of runs by state."""
        return service.county_summary(current_actor(), days=args["days"])
