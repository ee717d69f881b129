"""Key rotation for residents' sealed ID numbers (platform/sealed.py), across every township.

Rotation: put the new key first in JIFEN_ID_KEYS (keep the old ones after it) and restart: new and
changed numbers are sealed with it and old rows still open. Then `jifen reseal-ids` re-encrypts
every stored number with the newest key; after it, the old keys can be dropped. The keyed hashes
(`id_number_hmac`) do not change: the HMAC key is separate and is not rotated.
"""
from __future__ import annotations

from sqlalchemy import text

from jifen.platform import sealed
from jifen.platform.db import db

BATCH = 1000


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
            return {"numbers": numbers, "were_older": older}
        older += sum(not sealed.sealed_with_newest(token) for _t, _i, token in rows)
        db.session.execute(text("UPDATE residents SET id_number_sealed = :s WHERE tenant_id = :t AND id = :i"),
                           [{"s": sealed.reseal(token), "t": t, "i": i} for t, i, token in rows])
        numbers += len(rows)
        after = (rows[-1][0], rows[-1][1])
