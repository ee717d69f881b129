"""Serving stored files to signed-in users of the township (photos, scans, rosters)."""
from __future__ import annotations

from flask import Blueprint, Response

from jifen.platform.files import service
from jifen.platform.files.responses import file_response
from jifen.platform.web import current_actor

bp = Blueprint("files", __name__, url_prefix="/t/<tenant_slug>/files")


@bp.get("/<uuid:file_id>")
def download(file_id):
    return file_response(service.get_file(current_actor(), file_id))


@bp.get("/<uuid:file_id>/thumb")
def thumbnail(file_id):
    """A photo's small copy (lists, forms): reached by the same rule as the photo itself."""
    thumb = service.thumbnail_of(service.get_file(current_actor(), file_id))
    if isinstance(thumb, bytes):
        resp = Response(thumb, mimetype="image/jpeg")
        resp.headers["Cache-Control"] = "private, max-age=86400, immutable"
        return resp
    return file_response(thumb)
