"""Links in messages made without a request (workers send them): a route's path, made absolute
with the configured base URL. Its own module so that deliveries and the staff digest both use it
without importing each other."""
from __future__ import annotations

from flask import current_app


def path(endpoint: str, **values) -> str:
    """A URL path without a request: the app's routes, built directly."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


def absolute(path_: str) -> str:
    base = current_app.config["NOTIFY_LINK_BASE_URL"]
    return f"{str(base).rstrip('/')}{path_}" if base and path_ else path_
