"""Stored files for API clients (bearer tokens): the same bytes the pages serve."""
from __future__ import annotations

from flask.views import MethodView

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.files import service
from jifen.platform.files.responses import file_response
from jifen.platform.web import current_actor

blp = Blueprint("files_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/files",
                description="Uploaded photos, scans and rosters")


@blp.route("/<uuid:file_id>")
class FileContent(MethodView):
    @blp.doc(security=SECURITY, responses={200: {"description": "The file's bytes, with its content type"}})
    def get(self, file_id):
        """The file (photo, scan or spreadsheet) as uploaded (photos re-encoded as JPEG)."""
        return file_response(service.get_file(current_actor(), file_id))
