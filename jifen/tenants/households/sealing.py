"""Key rotation for residents' sealed ID numbers (platform/sealed.py), across every township.

Rotation: put the new key first in JIFEN_ID_KEYS (keep the old ones after it) and restart: new and
changed numbers are sealed with it and old rows still open. Then `jifen reseal-ids` re-encrypts
every stored number, uploaded spreadsheet (in the database or the bucket) and roster import's staged
rows with the newest key; after it, the old keys can be dropped. The keyed hashes
(`id_number_hmac`) do not change: the HMAC key is separate and is not rotated.
"""
from __future__ import annotations

from sqlalchemy import bindparam, text

from jifen.platform import sealed
from jifen.platform.db import db
from jifen.platform.files import storage
from jifen.platform.files.models import SEALED_KINDS

BATCH = 1000


def _reseal_files(batch: int) -> int:
    """Uploaded spreadsheets (rosters) sealed with the newest key, a few at a time (they are large):
    in their rows, or in the bucket (platform/files/storage.py) where the row has a `storage_key`,
    rewritten under the same key at once (both keys open it until the old one is dropped)."""
    after, files, size = None, 0, max(1, batch // 100)
    while True:
        where = ("kind IN :kinds AND (data IS NOT NULL OR storage_key IS NOT NULL)"
                 + (" AND (tenant_id, id) > (:t, :i)" if after else ""))
        query = text(f"SELECT tenant_id, id, data, storage_key FROM stored_files WHERE {where} ORDER BY tenant_id, id "
                     f"LIMIT {size}").bindparams(bindparam("kinds", expanding=True))
        rows = db.session.execute(query, {"kinds": list(SEALED_KINDS)} | (
            {"t": after[0], "i": after[1]} if after else {})).all()
        if not rows:
            return files
        for t, i, data, key in rows:
            data = storage.get(key) if key is not None else bytes(data)
            fresh = sealed.seal_bytes(data) if data.startswith(b"PK") else sealed.reseal_bytes(data)
            if key is not None:
                storage.put(key, fresh, "application/octet-stream")
                continue
            db.session.execute(text("UPDATE stored_files SET data = :d WHERE tenant_id = :t AND id = :i"),
                               {"d": fresh, "t": t, "i": i})
        files += len(rows)
        after = (rows[-1][0], rows[-1][1])


def _reseal_staged() -> int:
    """Roster imports' staged rows (roster._staged), one at a time (each is a whole sheet)."""
    ids = db.session.execute(text("SELECT tenant_id, id FROM roster_imports WHERE rows_sealed IS NOT NULL")).all()
    for t, i in ids:
        token = db.session.execute(text("SELECT rows_sealed FROM roster_imports WHERE tenant_id = :t AND id = :i"),
                                   {"t": t, "i": i}).scalar()
        db.session.execute(text("UPDATE roster_imports SET rows_sealed = :s WHERE tenant_id = :t AND id = :i"),
                           {"s": sealed.reseal(token), "t": t, "i": i})
    return len(ids)


def reseal_all(batch: int = BATCH) -> dict:
    """Re-encrypt every resident's ID number with the newest key, in keyset batches (the caller
    commits: the CLI command, once at its end). Returns {"numbers": n, "were_older": m}."""
    after, numbers, older = None, 0, 0
    while True:
        where = "id_number_sealed IS NOT NULL" + (" AND (tenant_id, id) > (:t, :i)" if after else "")
        rows = db.session.execute(text(f"SELECT tenant_id, id, id_number_sealed FROM residents WHERE {where} "
                                       f"ORDER BY tenant_id, id LIMIT {int(batch)}"),
                                  {"t": after[0], "i": after[1]} if after else {}).all()
        if not rows:
            return {"numbers": numbers, "were_older": older, "files": _reseal_files(batch),
                    "staged_rosters": _reseal_staged()}
        older += sum(not sealed.sealed_with_newest(token) for _t, _i, token in rows)
        db.session.execute(text("UPDATE residents SET id_number_sealed = :s WHERE tenant_id = :t AND id = :i"),
                           [{"s": sealed.reseal(token), "t": t, "i": i} for t, i, token in rows])
        numbers += len(rows)
        after = (rows[-1][0], rows[-1][1])
