"""Township API: the roster (花名册) template, upload → preview → confirm, and export."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow import fields

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.files.responses import XLSX_MIMETYPE, xlsx_response
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.households import roster

blp = Blueprint("roster_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/roster",
                description="Roster (花名册) import and export")


class RosterErrorSchema(Schema):
    row = fields.Integer(allow_none=True, metadata={"description": "Excel row number (1 is the header row)"})
    column = fields.String(allow_none=True, metadata={"description": "the column's header, e.g. 门牌号"})
    message = fields.String()


class RosterSummarySchema(Schema):
    error_count = fields.Integer()
    households_created = fields.Integer()
    households_updated = fields.Integer()
    households_unchanged = fields.Integer()
    residents_created = fields.Integer()
    residents_updated = fields.Integer()
    residents_unchanged = fields.Integer()


class RosterImportSchema(Schema):
    id = fields.UUID()
    status = fields.String(metadata={"description": "previewed (no errors: may be confirmed), invalid, importing "
                                                    "(the job is at work), failed (see failure; confirm resumes), "
                                                    "imported"})
    village_id = fields.UUID(allow_none=True)
    file_id = fields.UUID()
    row_count = fields.Integer()
    errors = fields.List(fields.Nested(RosterErrorSchema), metadata={"description": "at most 1000 are kept"})
    summary = fields.Nested(RosterSummarySchema)
    created_at = fields.DateTime()
    imported_at = fields.DateTime(allow_none=True)
    rows_done = fields.Integer(metadata={"description": "rows imported (or found unchanged) so far"})
    percent = fields.Method("_percent", metadata={"description": "rows_done of row_count, in per cent"})
    failure = fields.String(allow_none=True, metadata={"description": "why the import job stopped (status failed)"})
    url = fields.Method("_url", metadata={"description": "this import, to poll for progress"})

    def _percent(self, imp) -> int:
        return roster.percent(imp)

    def _url(self, imp) -> str:
        return url_for("roster_api.ImportDetail", import_id=imp.id)


class RosterUploadSchema(Schema):
    file = Upload(required=True, metadata={"description": "the roster, an .xlsx workbook (see GET template)"})
    village_id = fields.UUID(metadata={  # not nullable: a form field has no null
        "description": "import into this village (rows may leave 村 empty); omitted: the 村 column says"})


class VillageQuerySchema(Schema):
    village_id = fields.UUID(load_default=None)


class ExportQuerySchema(VillageQuerySchema):
    masked = fields.Boolean(load_default=False, metadata={"description": "mask ID numbers and phones"})


@blp.route("/template")
class Template(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(VillageQuerySchema, location="query")
    @blp.response(200, content_type=XLSX_MIMETYPE, description="The empty roster workbook with its 填写说明 sheet")
    def get(self, args):
        return xlsx_response(roster.template(current_actor(), args["village_id"]), "花名册模板.xlsx")


@blp.route("/imports")
class Imports(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RosterUploadSchema, location="form", content_type="multipart/form-data")
    @blp.response(201, RosterImportSchema)
    def post(self, form):
        """Upload a roster: it is checked in full and kept as a preview (status previewed or invalid,
        with every error's row and column). Nothing is imported until it is confirmed."""
        imp = roster.upload(current_actor(), form["file"], form.get("village_id"))
        return imp


@blp.route("/imports/<uuid:import_id>")
class ImportDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, RosterImportSchema)
    def get(self, import_id):
        return roster.get_import(current_actor(), import_id)


@blp.route("/imports/<uuid:import_id>/confirm")
class ImportConfirm(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(202, RosterImportSchema)
    @blp.alt_response(409, description="Already imported, or has errors")
    def post(self, import_id):
        """Start the import (a job): 202 with the import, status importing; poll its `url` for
        `rows_done` / `percent` until it is imported, invalid (the rows no longer pass the checks
        against the database as it is now: see its errors) or failed (see `failure`; confirming
        again resumes it without importing any row twice). Confirming an import already being
        imported returns it as it is."""
        imp = roster.confirm(current_actor(), import_id)
        return imp, 202, {"Location": url_for("roster_api.ImportDetail", import_id=imp.id)}


@blp.route("/export")
class Export(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ExportQuerySchema, location="query")
    @blp.response(200, content_type=XLSX_MIMETYPE, description="The roster in the template's columns")
    def get(self, args):
        return xlsx_response(roster.export(current_actor(), args["village_id"], masked=args["masked"]), "花名册.xlsx")
