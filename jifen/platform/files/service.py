"""Accepting uploads: check what the file really is (not what its name says), shrink photos, store.

Limits are per kind; anything bigger than the whole request limit (MAX_CONTENT_LENGTH) is refused
by Flask before it is read, with a 413 that says the limit.
"""
from __future__ import annotations

import hashlib
import io
import uuid
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete, select, text

from jifen.platform import clock, sealed
from jifen.platform.db import db, new_id
from jifen.platform.errors import Invalid, NotFound
from jifen.platform.files import storage
from jifen.platform.files.models import SEALED_KINDS, StoredFile
from jifen.platform.retention import register_retention
from jifen.platform.roles.authz import Actor, action
from jifen.platform.tenancy import current_tenant_id, register_url_object, tenant_get_or_404

register_url_object("file_id", StoredFile)
register_retention("uploads", _l("Uploaded photos, scans and rosters"), lambda: _(
    "Kept as long as the township, in the database or in object storage; deleted with the township. "
    "Stored objects left by an upload that did not finish are deleted after a day. Photos kept for a form "
    "that was refused and never sent again are deleted after %(days)d days.", days=STAGED_AGE.days))

MB = 1024 * 1024
MAX_IMAGE_BYTES = 8 * MB
MAX_DOCUMENT_BYTES = 10 * MB
MAX_SPREADSHEET_BYTES = 10 * MB
PHOTO_EDGE = 1280  # longest edge kept; phones send 4000px photos that cheap phones then download
THUMB_EDGE = 320  # the small copy shown in lists and forms (a few KB instead of a few hundred)
STAGED_AGE = timedelta(days=2)  # a photo of a refused form waits this long to be sent again
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


def _store(actor: Actor, kind: str, filename: str, content_type: str, data: bytes, **extra) -> StoredFile:
    """The row, flushed; its bytes (sealed for a sealed kind) in the row or, with JIFEN_FILE_STORE=s3,
    in the bucket first (`Unavailable` and no row when it can't be written; see storage.py for the
    object a rolled-back transaction leaves)."""
    body = sealed.seal_bytes(data) if kind in SEALED_KINDS else data
    stored = StoredFile(id=new_id(), kind=kind, filename=filename, content_type=content_type, size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(),
                        created_by=actor.id if actor.kind == "user" else None, **extra)
    if storage.s3_enabled():
        stored.storage_key = storage.key_for(current_tenant_id(), stored.id)
        storage.put(stored.storage_key, body, "application/octet-stream" if kind in SEALED_KINDS else content_type)
    else:
        stored.data = body
    db.session.add(stored)
    db.session.flush()
    return stored


def _decode(data: bytes, field: str) -> Image.Image:
    """A real image, upright (its EXIF orientation applied)."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        img = Image.open(io.BytesIO(data))
        img = ImageOps.exif_transpose(img)
        img.load()
        return img
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise Invalid.field(field, _("This is not a photo we can read (use JPEG or PNG).")) from None


def _jpeg(img: Image.Image, edge: int, quality: int) -> bytes:
    """Re-encoded as JPEG no larger than `edge` (drops EXIF, incl. GPS)."""
    img = img.copy()
    img.thumbnail((edge, edge))
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def thumbnail_bytes(data: bytes) -> bytes:
    """The small copy (THUMB_EDGE) of a stored photo's bytes."""
    return _jpeg(_decode(data, "photo"), THUMB_EDGE, 75)


def _store_photo(actor: Actor, filename: str, data: bytes, field: str, staged: bool = False) -> StoredFile:
    """A photo shrunk to PHOTO_EDGE and its thumbnail, each its own row (both stored, moved to the
    bucket and deleted like any file)."""
    img = _decode(data, field)
    thumb = _store(actor, "image", f"thumb-{filename}"[:200], "image/jpeg", _jpeg(img, THUMB_EDGE, 75))
    return _store(actor, "image", filename, "image/jpeg", _jpeg(img, PHOTO_EDGE, 82),
                  thumbnail_id=thumb.id, staged_at=clock.now() if staged else None)


def store_image(actor: Actor, upload, field: str = "photo", staged: bool = False) -> StoredFile:
    """A photo with its thumbnail. `staged`: it waits for its refused form to be sent again
    (`take_staged`), and is deleted if it never is (`purge_staged`)."""
    data, filename = _read(upload, MAX_IMAGE_BYTES, field)
    return _store_photo(actor, filename, data, field, staged)


def thumbnail_of(stored: StoredFile) -> StoredFile | bytes:
    """A photo's small copy: its thumbnail row; for a photo stored before thumbnails, made now from
    the photo (bytes, not stored: a read request writes nothing). A scan or workbook has none."""
    if stored.kind != "image":
        raise NotFound(_("Not found."))
    if stored.thumbnail_id is not None:
        thumb = db.session.execute(select(StoredFile).where(StoredFile.id == stored.thumbnail_id)).scalar_one_or_none()
        if thumb is not None:
            return thumb
    return thumbnail_bytes(stored.content)


def take_staged(actor: Actor, ids, field: str = "photos") -> tuple[list[StoredFile], dict]:
    """The staged photos a re-sent form names, for `actor` to attach: (files, errors). Only the
    uploader's own photos still waiting are taken; any other id (another person's, another
    township's, one already attached or deleted, not an id) is an error naming `field`, never taken."""
    files, bad = [], False
    for raw in ids or []:
        try:
            file_id = uuid.UUID(str(raw))
        except ValueError:
            bad = True
            continue
        stored = db.session.execute(select(StoredFile).where(StoredFile.id == file_id)).scalar_one_or_none()
        # (the tenant guard adds the township: another township's id finds nothing)
        if (stored is None or stored.kind != "image" or stored.staged_at is None or actor.kind != "user"
                or stored.created_by != actor.id):
            bad = True
        elif stored not in files:
            files.append(stored)
    return files, ({field: [_("A kept photo is no longer available: choose it again.")]} if bad else {})


def attach_staged(stored: StoredFile) -> None:
    """A staged photo now belongs to what it was sent with: no longer deleted as left over."""
    stored.staged_at = None


def purge_staged() -> int:
    """Inside a township's scope (its daily file sweep): delete photos staged longer than STAGED_AGE
    and their thumbnails. An object in the bucket loses its row and goes with the orphan sweep."""
    cutoff = clock.now() - STAGED_AGE
    rows = db.session.execute(select(StoredFile.id, StoredFile.thumbnail_id).where(
        StoredFile.staged_at.is_not(None), StoredFile.staged_at < cutoff)).all()
    ids = [r.id for r in rows] + [r.thumbnail_id for r in rows if r.thumbnail_id is not None]
    for start in range(0, len(ids), 500):
        db.session.execute(delete(StoredFile).where(StoredFile.id.in_(ids[start:start + 500]))
                           .execution_options(synchronize_session=False))
    return len(rows)


def store_document(actor: Actor, upload, field: str = "scan") -> StoredFile:
    """A scan: a PDF, or a photo of the paper (shrunk like any photo)."""
    data, filename = _read(upload, MAX_DOCUMENT_BYTES, field)
    if data[:5] == b"%PDF-":
        return _store(actor, "document", filename, "application/pdf", data)
    return _store_photo(actor, filename, data, field)


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


def sweep_orphan_objects() -> dict:
    """Inside a township's scope (its daily job): delete its objects in the bucket that no row
    names and that are older than `storage.ORPHAN_AGE` (left by a transaction that rolled back
    after the object was written). Nothing to do without a bucket."""
    if not storage.configured():
        return {"skipped": "no bucket configured"}

    def named(keys: list[str]):
        return db.session.execute(select(StoredFile.storage_key).where(StoredFile.storage_key.in_(keys))).scalars()

    return storage.sweep_orphans(current_tenant_id(), named)


def move_batch(limit: int = 20) -> int:
    """Across every township (the CLI `jifen files move-to-store`): up to `limit` files still held in
    the database copied into the bucket, their `data` cleared; the caller commits after each batch
    (an object written for a batch that then fails to commit is swept as an orphan). A roster kept
    from before sealing is sealed on the way. Returns how many were moved (0: done)."""
    rows = db.session.execute(text(
        "SELECT tenant_id, id, kind, content_type, data FROM stored_files WHERE data IS NOT NULL "
        f"ORDER BY tenant_id, id LIMIT {int(limit)}")).all()  # raw: every township, each row's own tenant
    for tenant_id, file_id, kind, content_type, data in rows:
        data = bytes(data)
        if kind in SEALED_KINDS and data.startswith(b"PK"):
            data = sealed.seal_bytes(data)
        key = storage.key_for(tenant_id, file_id)
        storage.put(key, data, "application/octet-stream" if kind in SEALED_KINDS else content_type)
        db.session.execute(text("UPDATE stored_files SET storage_key = :k, data = NULL "
                                "WHERE tenant_id = :t AND id = :i"), {"k": key, "t": tenant_id, "i": file_id})
    return len(rows)
