"""One submission per rendered form: a page form carries a hidden one-time key (`new_key()` when
it is rendered), and `once(work)` runs the POST's work once for that key, so a double tap or a
resent form makes one record and the second request is sent where the first one went.
The key and the first answer's location commit with the work, in the request's one transaction
(`unit_of_work`), under the same rule as the API's `Idempotency-Key` header (`idempotency`): a
double tap waits on the key until the first request ends, then follows it.
"""
from __future__ import annotations

import uuid

from flask import g, redirect, request

from jifen.platform import idempotency
from jifen.platform.db import db
from jifen.platform.request_info import current_actor


def new_key() -> str:
    """The hidden `once` value of a freshly rendered form."""
    return uuid.uuid4().hex


def once(work):
    """Run `work()` (a redirect on success, a form with errors otherwise) once per rendered form."""
    actor = current_actor()
    raw = (request.form.get("once") or "").strip()[:64]
    if not raw:
        return work()
    key = f"page:{request.endpoint}:{raw}"
    stored = idempotency.claim(actor.id, key, {})
    if stored is not None:
        return redirect((stored.response or {}).get("location") or request.path, 303)
    response = work()
    if isinstance(response, tuple) or response.status_code >= 400:
        if not g.get("keep_writes"):  # (what a refusal keeps, e.g. its photos, was written after its rollback)
            db.session.rollback()  # the form is shown again with its errors: the key stays free
        return response
    idempotency.remember(actor.id, key, response.status_code, {"location": response.location})
    return response
