"""Accepting uploads: check what the file really is (not what its name says), shrink photos, store.

Limits are per kind; anything bigger than the whole request limit (MAX_CONTENT_LENGTH) is refused
by Flask before it is read, with a 413 that says the limit.
"""
from __future__ import annotations

import hashlib
import io

from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from jifen.platform import sealed
from jifen.platform.db import db
from jifen.platform.errors import Invalid, NotFound
from jifen.platform.files.models import SEALED_KINDS, StoredFile
from jifen.platform.roles.authz import Actor, action
from jifen.platform.tenancy import register_url_object, tenant_get_or_404

register_url_object("file_id", StoredFile)

MB = 1024 * 1024
MAX_IMAGE_BYTES = 8 * MB
MAX_DOCUMENT_BYTES = 10 * MB
MAX_SPREADSHEET_BYTES = 10 * MB
PHOTO_EDGE = 1280  # longest edge kept; phones send 4000px photos that cheap phones then download
Image.MAX_IMAGE_PIXELS = 40_000_000  # refuse decompression bombs
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _read(upload, limit: int, field: str) -> tuple[bytes, str]:
    """(bytes, filename) of a werkzeug FileStorage or a (filename, bytes) pair."""
    if upload is None:
        raise Invalid.field(field, _("Choose a file."))
    if isinstance(upload, tuple):
        filename, data = upload
    else:
        filename, data = upload.filename or "", upload.read(limit + 1)
    if not data:
        raise Invalid.field(field, _("The file is empty."))
    if len(data) > limit:
        raise Invalid.field(field, _("The file is too large (at most %(mb)d MB).", mb=limit // MB))
    return data, (filename or "upload")[-200:]


def _store(actor: Actor, kind: str, filename: str, content_type: str, data: bytes) -> StoredFile:
    stored = StoredFile(kind=kind, filename=filename, content_type=content_type, size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(),
                        data=sealed.seal_bytes(data) if kind in SEALED_KINDS else data,
                        created_by=actor.id if actor.kind == "user" else None)
    db.session.add(stored)
    db.session.flush()
    return stored


def _image(data: bytes, field: str) -> bytes:
    """A real image, re-encoded as JPEG no larger than PHOTO_EDGE (drops EXIF, incl. GPS)."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        img = Image.open(io.BytesIO(data))
        img = ImageOps.exif_transpose(img)
        img.thumbnail((PHOTO_EDGE, PHOTO_EDGE))
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
        return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise Invalid.field(field, _("This is not a photo we can read (use JPEG or PNG).")) from None


def store_image(actor: Actor, upload, field: str = "photo") -> StoredFile:
    data, filename = _read(upload, MAX_IMAGE_BYTES, field)
    return _store(actor, "image", filename, "image/jpeg", _image(data, field))


def store_document(actor: Actor, upload, field: str = "scan") -> StoredFile:
    """A scan: a PDF, or a photo of the paper (shrunk like any photo)."""
    data, filename = _read(upload, MAX_DOCUMENT_BYTES, field)
    if data[:5] == b"%PDF-":
        return _store(actor, "document", filename, "application/pdf", data)
    return _store(actor, "image", filename, "image/jpeg", _image(data, field))


def store_spreadsheet(actor: Actor, upload, field: str = "file") -> StoredFile:
    """An .xlsx workbook (a zip); the importer reads it and reports what is wrong inside."""
    data, filename = _read(upload, MAX_SPREADSHEET_BYTES, field)
    if data[:4] != b"PK\x03\x04":
        raise Invalid.field(field, _("This is not an Excel .xlsx file. Save it as .xlsx and upload again."))
    return _store(actor, "spreadsheet", filename, XLSX_TYPE, data)


@action("file.view")
def get_file(actor: Actor, file_id) -> StoredFile:
    """Photos and scans for anyone of the township who has the link; an uploaded spreadsheet (a
    roster, full of ID numbers) only for whoever uploaded it (404 for the others)."""
    stored = tenant_get_or_404(StoredFile, file_id)
    if stored.kind in SEALED_KINDS and (stored.created_by is None or stored.created_by != actor.id):
        raise NotFound(_("Not found."))
    return stored
