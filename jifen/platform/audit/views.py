"""The township's audit log page and chain check, for its admins."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l

from jifen.platform import retention
from jifen.platform.audit import service
from jifen.platform.audit.labels import action_label, object_label
from jifen.platform.console import register_tile
from jifen.platform.web import current_actor

bp = Blueprint("audit", __name__, url_prefix="/t/<tenant_slug>/audit")
register_tile("audit.index", _l("Audit log"), "audit.list", order=90)
register_tile("audit.retention", _l("Data retention"), "retention.view", order=91)
# the log's words, for every page that shows an audit action (the township's log, the county's records)
bp.add_app_template_global(action_label, "audit_action")
bp.add_app_template_global(object_label, "audit_object")


@bp.route("/")
def index():
    actor = current_actor()
    before = request.args.get("before", type=int)
    entries = service.list_entries(actor, limit=100, before_seq=before)
    report = service.verify(actor) if request.args.get("verify") else None
    return render_template("audit/index.html", entries=entries, report=report)


@bp.route("/retention", endpoint="retention")
def retention_page():
    """How long the township's data of each kind is kept (the same numbers the purging jobs use)."""
    return render_template("audit/retention.html", items=retention.policy(current_actor()))
