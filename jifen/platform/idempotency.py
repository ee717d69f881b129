"""Idempotency keys for requests that create things (DESIGN: Points).

A client sends `Idempotency-Key`; the key is unique per tenant and user together with a
fingerprint of the body. The first request claims the key (committed before the work, so a
concurrent duplicate finds it), the answer is stored when the work succeeds; a replay gets the
stored answer, the same key with another body gets 409. A request that fails releases its key so
the client can fix the input and retry with it.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from functools import wraps

from flask import Response, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import JSON, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db
from jifen.platform.errors import Conflict

ABANDONED_AFTER = timedelta(minutes=1)
HEADER = "Idempotency-Key"


class IdempotencyKey(TenantScoped, db.Model):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "key"),)
    user_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]  # None while the first request is still working
    response: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


def fingerprint(body) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def claim(user_id, key: str, body) -> IdempotencyKey | None:
    """Claim `key` for this body. Returns the stored row when the key was used before with the
    same body and has an answer (replay it); None when this request now owns the key.
    Raises Conflict for another body, or while the first request is still working."""
    if len(key) > 100:
        raise Conflict(_("The idempotency key is too long (100 characters at most)."),
                       {"Idempotency-Key": [_("At most 100 characters.")]})
    fp = fingerprint(body)
    row = db.session.execute(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                          IdempotencyKey.key == key)).scalar_one_or_none()
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(IdempotencyKey(user_id=user_id, key=key, fingerprint=fp))
            db.session.commit()
            return None
        except IntegrityError:
            db.session.rollback()
            row = db.session.execute(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                                  IdempotencyKey.key == key)).scalar_one()
    if row.fingerprint != fp:
        raise Conflict(_("This idempotency key was used with a different request."),
                       {"Idempotency-Key": [_("Used before with another body.")]})
    if row.status_code is None and row.created_at < clock.now() - ABANDONED_AFTER:
        row.created_at = clock.now()  # the first request died before answering: this one takes over
        db.session.commit()
        return None
    if row.status_code is None:
        raise Conflict(_("The first request with this idempotency key is still being processed."),
                       {"Idempotency-Key": [_("Still being processed.")]})
    return row


def remember(user_id, key: str, status_code: int, response) -> None:
    """Store the answer in the transaction that did the work (call before its commit)."""
    row = db.session.execute(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                          IdempotencyKey.key == key)).scalar_one()
    row.status_code, row.response = status_code, response


def release(user_id, key: str) -> None:
    """The work failed: free the key (after the failed work was rolled back)."""
    db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                    IdempotencyKey.key == key))
    db.session.commit()


def _body() -> dict:
    if request.is_json:
        return {"json": request.get_json(silent=True)}
    return {"form": request.form.to_dict(flat=False),
            "files": sorted((name, f.filename, len(f.read()), f.seek(0))[:3] for name, f in request.files.items(multi=True))}


def idempotent(view):
    """For API views that create things: honour an `Idempotency-Key` header. Put it above
    `@blp.response` so it stores and replays the serialized answer."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        from jifen.platform.web import current_actor

        key = request.headers.get(HEADER, "").strip()
        actor = current_actor()
        if not key or actor is None or actor.kind != "user":
            return view(*args, **kwargs)
        stored = claim(actor.id, key, _body())
        if stored is not None:
            return Response(json.dumps(stored.response), status=stored.status_code, mimetype="application/json")
        try:
            response = view(*args, **kwargs)
        except Exception:
            db.session.rollback()
            release(actor.id, key)
            raise
        if not isinstance(response, Response):
            response = jsonify(response)
        if response.status_code < 400:
            remember(actor.id, key, response.status_code, response.get_json(silent=True))
            db.session.commit()
        else:
            release(actor.id, key)
        return response

    return wrapper
