"""Idempotency keys for requests that create things (DESIGN: Points).

A client sends `Idempotency-Key`; the key is unique per tenant and user together with a
fingerprint of the body. The key row is inserted at the start of the request's own transaction
and the answer is stored in it before the request's one commit (`unit_of_work`), so the key, the
answer and the work commit together or not at all: a process that dies before the commit leaves
nothing (the retry does the work), one that dies after it leaves all three (the retry gets the
stored answer). A concurrent duplicate waits on the key's unique index until the first commits
(then it replays the answer) or rolls back (then it does the work). The same key with another body
gets 409. A request that fails rolls back, key included, so the client can fix the input and retry.

A key lives `IDEMPOTENCY_KEY_HOURS` (24 by default): after that the same key is a new request (the
old answer is replaced), and the nightly `jifen.purge_idempotency_keys` job deletes expired keys.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from functools import wraps

from flask import Response, current_app, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import JSON, String, UniqueConstraint, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, new_id
from jifen.platform.errors import Conflict
from jifen.platform.request_info import current_actor
from jifen.platform.tenancy import current_tenant_id

HEADER = "Idempotency-Key"


class IdempotencyKey(TenantScoped, db.Model):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "key"),)
    user_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]  # stored with the work; None only in rows of older versions
    response: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


def fingerprint(body) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _row(user_id, key: str) -> IdempotencyKey | None:
    return db.session.execute(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                           IdempotencyKey.key == key)).scalar_one_or_none()


def claim(user_id, key: str, body) -> IdempotencyKey | None:
    """Claim `key` for this body in the current transaction. Returns the stored row when the key
    was used before with the same body (replay its answer); None when this request now owns the
    key (call `remember` before the commit). Raises Conflict for another body."""
    if len(key) > 100:
        raise Conflict(_("The idempotency key is too long (100 characters at most)."),
                       {"Idempotency-Key": [_("At most 100 characters.")]})
    fp = fingerprint(body)
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(IdempotencyKey)
    # raw insert (tenant bound explicitly): a concurrent duplicate waits here for the first to end
    claimed = db.session.execute(insert.values(
        tenant_id=current_tenant_id(), id=new_id(), user_id=user_id, key=key, fingerprint=fp, created_at=clock.now(),
    ).on_conflict_do_nothing(index_elements=["tenant_id", "user_id", "key"]).returning(IdempotencyKey.id)).first()
    if claimed is not None:
        return None
    # an expired key is a new request: take the row over (a concurrent taker waits on its row lock
    # and, after the first commits, finds it fresh: it then replays or conflicts as below)
    taken = db.session.execute(
        update(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key,
                                     IdempotencyKey.created_at < expired_before())
        .values(fingerprint=fp, created_at=clock.now(), status_code=None, response=None)
        .execution_options(synchronize_session="fetch")).rowcount
    if taken:
        return None
    row = _row(user_id, key)
    if row.fingerprint != fp:
        raise Conflict(_("This idempotency key was used with a different request."),
                       {"Idempotency-Key": [_("Used before with another body.")]})
    if row.status_code is None:  # left by a version that committed the key before the work
        return None
    return row


def expired_before() -> datetime:
    return clock.now() - timedelta(hours=current_app.config["IDEMPOTENCY_KEY_HOURS"])


def purge_expired() -> int:
    """Delete the current tenant's expired keys; returns how many."""
    return db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < expired_before())
        .execution_options(synchronize_session=False)).rowcount


def remember(user_id, key: str, status_code: int, response) -> None:
    """Store the answer in the transaction that did the work (before its one commit)."""
    row = _row(user_id, key)
    row.status_code, row.response = status_code, response


def _body() -> dict:
    if request.is_json:
        return {"json": request.get_json(silent=True)}
    return {"form": request.form.to_dict(flat=False),
            "files": sorted((name, f.filename, len(f.read()), f.seek(0))[:3] for name, f in request.files.items(multi=True))}


def answer_once(view, *args, **kwargs) -> Response:
    """Answer `view(*args, **kwargs)` once per `Idempotency-Key` header of the signed-in user: a
    replay gets the stored answer. Also for the page endpoints of the offline field app, which
    answer JSON to the page's own script (`points.field_views`). An answer of 400 or more stores
    nothing: the request's unit of work rolls it back, key included."""
    key = request.headers.get(HEADER, "").strip()
    actor = current_actor()
    if not key or actor is None or actor.kind != "user":
        return view(*args, **kwargs)
    stored = claim(actor.id, key, _body())
    if stored is not None:
        if stored.response is None:
            return Response(status=stored.status_code)
        replay = jsonify(stored.response)  # serialized as the first answer was: the same bytes
        replay.status_code = stored.status_code
        return replay
    response = view(*args, **kwargs)  # an error rolls back the whole request, key included
    if not isinstance(response, Response):
        response = jsonify(response)
    if response.status_code < 400:
        remember(actor.id, key, response.status_code, response.get_json(silent=True))
    return response


def idempotent(view):
    """For API views that create things: honour an `Idempotency-Key` header. Put it above
    `@blp.response` so it stores and replays the serialized answer."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        return answer_once(view, *args, **kwargs)

    wrapper.jifen_idempotent = True  # tests/test_unit_of_work.py sweeps every such view
    return wrapper
