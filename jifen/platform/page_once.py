"""One submission per rendered form: a page form carries a hidden one-time key (`new_key()` when
it is rendered), and `once(work)` runs the POST's work once for that key, so a double tap or a
resent form makes one record and the second request is sent where the first one went.
The API's counterpart is the `Idempotency-Key` header (`idempotency.idempotent`)."""
from __future__ import annotations

import time
import uuid

from flask import redirect, request

from jifen.platform import idempotency
from jifen.platform.db import db
from jifen.platform.errors import Conflict
from jifen.platform.web import current_actor

WAIT_FOR_FIRST = 5.0  # seconds a double tap waits for the first request's answer



def new_key() -> str:
    """The hidden `once` value of a freshly rendered form."""
    return uuid.uuid4().hex


def _stored_location(user_id, key: str) -> str | None:
    """Wait briefly for the first request with this key to finish; its redirect, or None."""
    deadline = time.monotonic() + WAIT_FOR_FIRST
    while time.monotonic() < deadline:
        db.session.rollback()
        row = db.session.execute(db.select(idempotency.IdempotencyKey).where(
            idempotency.IdempotencyKey.user_id == user_id, idempotency.IdempotencyKey.key == key)).scalar_one_or_none()
        if row is None:
            return None
        if row.status_code is not None:
            return (row.response or {}).get("location")
        time.sleep(0.2)
    return None


def once(work):
    """Run `work()` (a redirect on success, a form with errors otherwise) once per rendered form:
    the form carries a hidden one-time key, so a double tap or a resent form makes one record
    and the second request is sent where the first one went."""
    actor = current_actor()
    raw = (request.form.get("once") or "").strip()[:64]
    if not raw:
        return work()
    key = f"page:{request.endpoint}:{raw}"
    try:
        stored = idempotency.claim(actor.id, key, {})
    except Conflict:
        location = _stored_location(actor.id, key)
        if location is None:
            raise
        return redirect(location, 303)
    if stored is not None:
        return redirect((stored.response or {}).get("location") or request.path, 303)
    try:
        response = work()
    except Exception:
        db.session.rollback()
        idempotency.release(actor.id, key)
        raise
    if isinstance(response, tuple) or response.status_code >= 400:
        idempotency.release(actor.id, key)
        return response
    idempotency.remember(actor.id, key, response.status_code, {"location": response.location})
    db.session.commit()
    return response
