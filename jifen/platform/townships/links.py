"""Links the township's people are sent, built in one place for the pages and the API."""
from __future__ import annotations

from flask import url_for


def setup_url(tenant_slug: str, secret: str) -> str:
    """The one-time link where a new account sets its password."""
    return url_for("township.setup", tenant_slug=tenant_slug, secret=secret, _external=True)
