"""The device a self check-in came from: a long-lived random cookie set on the check-in page.

The cookie is the only device identity there is (no fingerprinting): a random 24-byte token,
HttpOnly, SameSite=Lax, Secure when the app's session cookie is, kept two years. The attendance
row stores only its SHA-256 (`device_hash`), so the database never holds a value that could be
replayed as someone's cookie. Clearing cookies makes a new device; the signal is a hint, not proof.
"""
from __future__ import annotations

import hashlib
import re
import secrets

from flask import current_app, request

COOKIE = "jifen_device"
MAX_AGE = 2 * 365 * 24 * 3600
_VALID = re.compile(r"^[A-Za-z0-9_-]{32}$")  # what `new_token` makes; anything else is replaced


def new_token() -> str:
    return secrets.token_urlsafe(24)


def current_token() -> tuple[str, bool]:
    """The request's device token, and whether it is new (to be set on the response)."""
    token = request.cookies.get(COOKIE, "")
    if _VALID.match(token):
        return token, False
    return new_token(), True


def hashed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def remember(response, token: str):
    """Set (or refresh) the cookie on `response`."""
    response.set_cookie(COOKIE, token, max_age=MAX_AGE, httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")), path="/")
    return response
