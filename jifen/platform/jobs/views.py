"""The township's job-runs page, for its admins: each daily job per local day, late or missing ones marked."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.jobs import service
from jifen.platform.jobs.schedule import job_label
from jifen.platform.web import current_actor

bp = Blueprint("jobs", __name__, url_prefix="/t/<tenant_slug>/jobs")
register_tile("jobs.index", _l("Job runs"), "jobs.list", order=95)


@bp.context_processor
def _helpers():
    return {"job_label": job_label}


@bp.route("/")
def index():
    days = request.args.get("days", default=service.DAYS, type=int)
    return render_template("jobs/index.html", rows=service.list_runs(current_actor(), days=days))


@bp.route("/<run_id>")
def detail(run_id):
    return render_template("jobs/detail.html", row=service.get_run(current_actor(), run_id))
