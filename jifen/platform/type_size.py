"""Large type for elderly villagers: the phone's choice first (the session, so it holds before
sign-in), then the account's (so it follows the person to another phone), as for the language."""
from __future__ import annotations

from flask import g, request, session


def large_type() -> bool:
    picked = session.get("large_type") if request else None
    if picked is not None:
        return bool(picked)
    actor = g.get("actor")
    return bool(actor is not None and actor.large_type)


def init_app(app) -> None:
    app.jinja_env.globals["large_type"] = large_type
