"""Links the township's people are sent, built in one place for the pages, the API and the CLI."""
from __future__ import annotations

from flask import current_app, has_request_context, url_for

LOCAL_BASE_URL = "http://127.0.0.1:5000"  # `jifen serve`'s address: the CLI's default


def setup_url(tenant_slug: str, secret: str, base_url: str | None = None) -> str:
    """The one-time link where a new account sets its password. In a request: on the address the
    request came to. Without one (the CLI): on `base_url`, else NOTIFY_LINK_BASE_URL (the address
    texts link to), else the local server's."""
    values = {"tenant_slug": tenant_slug, "secret": secret}
    if base_url is None and has_request_context():
        return url_for("township.setup", **values, _external=True)
    base = base_url or current_app.config.get("NOTIFY_LINK_BASE_URL") or LOCAL_BASE_URL
    return str(base).rstrip("/") + current_app.url_map.bind("localhost").build("township.setup", values)
