"""HTTP answers that carry a file, shared by the pages and the API (neither imports the other)."""
from __future__ import annotations

from urllib.parse import quote

from flask import Response

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def file_response(stored) -> Response:
    """A stored file: photos and scans shown inline, the rest downloaded; cached, as a file id never
    changes content."""
    inline = stored.kind in ("image", "document")
    resp = Response(stored.content, mimetype=stored.content_type)
    disposition = "inline" if inline else "attachment"
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(stored.filename)}"
    resp.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return resp


def xlsx_response(data: bytes, filename: str) -> Response:
    """A workbook made for this request (a roster, a list): downloaded, never stored by a cache."""
    resp = Response(data, mimetype=XLSX_MIMETYPE)
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
