"""Who is calling and through which door: the two questions the API plumbing, the page pipeline
and the idempotency guard all ask. Kept apart so that none of them imports another for them."""
from __future__ import annotations

from flask import g, request


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def current_actor():
    return g.get("actor")
