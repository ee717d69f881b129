"""Serving stored files to signed-in users of the township (photos, scans, rosters)."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response

from jifen.platform.files import service
from jifen.platform.web import current_actor

bp = Blueprint("files", __name__, url_prefix="/t/<tenant_slug>/files")


@bp.get("/<uuid:file_id>")
def download(file_id):
    return file_response(service.get_file(current_actor(), file_id))


def file_response(stored) -> Response:
    inline = stored.kind in ("image", "document")
    resp = Response(stored.data, mimetype=stored.content_type)
    disposition = "inline" if inline else "attachment"
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(stored.filename)}"
    resp.headers["Cache-Control"] = "private, max-age=86400, immutable"  # a file id never changes content
    return resp
