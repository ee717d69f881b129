"""Login throttling per account and per IP (Flask-Limiter; Redis storage when Redis is configured)."""
from __future__ import annotations

from flask import current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


def _account_key() -> str:
    data = request.get_json(silent=True) if request.is_json else request.form
    username = str((data or {}).get("username", "")).strip().lower()
    return f"acct:{g.get('tenant_slug', 'county')}:{username}"


def login_limits(view):
    """Apply both login limits to a view; only POSTs (attempts) count."""
    view = limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_account_key,
                         methods=["POST"])(view)
    return limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"],
                         scope="login-ip")(view)


def init_app(app) -> None:
    limiter.init_app(app)
    # Only the decorated sign-in views have limits, and their decorators check them; the hook
    # Flask-Limiter adds to every request would only find nothing to do, on every page.
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:  # absent when rate limiting is switched off
        hooks.remove(limiter._check_request_limit)
