"""Perceptual hashes of application photos, computed once each by the nightly job.

`hash_new_photos(limit)` takes the application photos with no `integrity_photo_hashes` row yet,
oldest first, at most `limit` a run (decoding images is the slow part; a backlog drains over a few
nights), and stores imagehash.phash as 16 hex digits with its four 16-bit quarters (see models).
A flat image (almost no variation: the phash of every flat image is the same) or one that cannot be
read is stored with no hash, so it is not taken again and never matches.
"""
from __future__ import annotations

import io

from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.errors import Unavailable
from jifen.platform.files.models import StoredFile
from jifen.platform.tenancy import insert_new
from jifen.tenants.integrity.models import PhotoHash
from jifen.tenants.points.models import ApplicationPhoto

HASH_LIMIT = 500  # photos hashed per township per run
FLAT_STDDEV = 4.0  # below this grey-level standard deviation an image has nothing to compare


def phash(data: bytes) -> str | None:
    """The image's perceptual hash (16 hex digits), or None for a flat or unreadable image."""
    import imagehash
    from PIL import Image, ImageStat, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            grey = image.convert("L")
            if ImageStat.Stat(grey).stddev[0] < FLAT_STDDEV:
                return None
            return str(imagehash.phash(grey))
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def row_for(file_id, value: str | None) -> dict:
    bands = [value[i:i + 4] for i in range(0, 16, 4)] if value else [None] * 4
    return {"file_id": file_id, "phash": value, **{f"band{i}": b for i, b in enumerate(bands)}}


def hash_new_photos(limit: int | None = None) -> int:
    limit = HASH_LIMIT if limit is None else limit
    todo = db.session.execute(
        select(ApplicationPhoto.file_id).distinct()
        .where(~select(PhotoHash.id).where(PhotoHash.file_id == ApplicationPhoto.file_id).exists())
        .order_by(ApplicationPhoto.file_id).limit(limit)).scalars().all()
    rows = []
    for file_id in todo:
        stored = db.session.execute(select(StoredFile).where(StoredFile.id == file_id)).scalar_one_or_none()
        try:
            data = stored.content if stored is not None else b""
        except Unavailable:  # the bucket is down: leave it for the next run
            continue
        rows.append(row_for(file_id, phash(data)))
    insert_new(PhotoHash, rows)
    return len(rows)
