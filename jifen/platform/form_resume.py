"""A page form sent after its sign-in session expired is not lost: the sign-in page is shown in
place of the form's answer, carrying the form's fields (not its files: a browser can't put a file
back into a form; ids of photos already kept, `staged_photos`, are fields and survive), and says why
sign-in was asked; once signed in, the fields are sent to the form's URL again (automatically with
JavaScript, one tap without).

Only a form whose CSRF token is valid for this browser is carried: another site's form posted
through a signed-out visitor is not replayed after they sign in. The form is sent back only to a
path of the same township (`target`); the form's own one-time key (`once`) travels with it, so a
double replay still makes one record.
"""
from __future__ import annotations

from flask import g, request
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

PREFIX = "resume:"
MAX_FIELDS = 200  # a page form has a few dozen (a batch sheet: a few per household)


def posted_fields() -> list[tuple[str, str]] | None:
    """The fields of this (unauthenticated) page POST worth carrying through sign-in, or None when
    there is none or its CSRF token is not this browser's."""
    if request.method != "POST" or not g.get("tenant_slug"):
        return None
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return None
    fields = [(k, v) for k, values in request.form.lists() if k != "csrf_token" for v in values]
    return fields[:MAX_FIELDS] if fields else None


def had_files() -> bool:
    return any(f and f.filename for f in request.files.values())


def carried_fields() -> list[tuple[str, str]]:
    """The form fields the sign-in form carries (its `resume:` inputs)."""
    return [(k[len(PREFIX):], v) for k, values in request.form.lists() if k.startswith(PREFIX)
            for v in values][:MAX_FIELDS]


def target(path: str) -> str | None:
    """Where the carried form goes after sign-in: `path` (already judged local by the sign-in view)
    only if it is a page of this township."""
    slug = g.get("tenant_slug")
    return path if slug and path.startswith(f"/t/{slug}/") else None
