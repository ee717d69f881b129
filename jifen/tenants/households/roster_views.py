"""Township pages for the roster (花名册): template download, upload → preview → confirm, export."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.db import db
from jifen.platform.errors import Conflict
from jifen.platform.files.responses import xlsx_response
from jifen.platform.files.service import MAX_SPREADSHEET_BYTES, MB
from jifen.platform.tenancy import tenant_get
from jifen.platform.web import current_actor, submit, upload_form
from jifen.tenants.households import roster
from jifen.tenants.villages.models import Village

bp = Blueprint("roster", __name__, url_prefix="/t/<tenant_slug>/roster")
register_tile("roster.index", _l("Roster import"), "household.import", order=35)


def _index(errors: dict, form) -> str:
    actor = current_actor()
    imports = roster.recent_imports(actor)
    return render_template("roster/index.html", errors=errors, form=form, villages=roster.villages_for(actor),
                           export_villages=roster.villages_for(actor, "household.export"), imports=imports,
                           files=roster.file_names(imports), limit_mb=MAX_SPREADSHEET_BYTES // MB)


@bp.route("/", methods=["GET", "POST"])
@upload_form(lambda message: _index({"file": [message]}, {}))
def index():
    errors, form = {}, request.form
    if request.method == "POST":
        upload = request.files.get("file")
        imp, errors = submit(roster.upload, current_actor(), upload if upload and upload.filename else None,
                             form.get("village_id") or None)
        if not errors:
            return redirect(url_for("roster.preview", import_id=imp.id))
    return _index(errors, form), (422 if errors else 200)


@bp.get("/template")
def template():
    return xlsx_response(roster.template(current_actor(), request.args.get("village_id") or None), "花名册模板.xlsx")


@bp.get("/export")
def export():
    data = roster.export(current_actor(), request.args.get("village_id") or None,
                         masked=request.args.get("masked") == "1")
    return xlsx_response(data, "花名册.xlsx")


def _preview(imp, message: str = "") -> str:
    village = tenant_get(Village, imp.village_id) if imp.village_id else None
    return render_template("roster/preview.html", imp=imp, village=village, message=message,
                           percent=roster.percent(imp), filename=roster.file_names([imp]).get(imp.file_id, ""))


@bp.get("/<uuid:import_id>")
def preview(import_id):
    return _preview(roster.get_import(current_actor(), import_id))


@bp.post("/<uuid:import_id>/confirm")
def confirm(import_id):
    actor = current_actor()
    try:
        roster.confirm(actor, import_id)
    except Conflict as e:
        db.session.rollback()
        return _preview(roster.get_import(actor, import_id), e.message), 409
    return redirect(url_for("roster.preview", import_id=import_id))
