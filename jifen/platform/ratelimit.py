"""Sign-in throttling per account and per client address (Flask-Limiter; Redis storage when Redis
is configured, memory otherwise; `limiter.reset()` clears both).

Both limits are shared: the page form, the API token endpoint and the county sign-in count into
the same buckets, so an attacker cannot get five more guesses by switching to another door. The
account bucket is the realm (township slug, or the county) and the username.
"""
from __future__ import annotations

import math

from flask import current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from jifen.platform import clock

limiter = Limiter(key_func=get_remote_address)


def _account_key() -> str:
    data = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):  # a JSON body that is no object: the schema refuses it after this
        data = {}
    username = str(data.get("username", "")).strip().lower()
    return f"acct:{g.get('tenant_slug', 'county')}:{username}"


def login_limits(view):
    """Apply both sign-in limits to a view; only POSTs (attempts) count."""
    view = limiter.shared_limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], scope="login-account",
                                key_func=_account_key, methods=["POST"])(view)
    return limiter.shared_limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], scope="login-ip",
                                methods=["POST"])(view)


def address_limit(view):
    """The per-address sign-in limit alone: for a setup link over the API (its secret cannot be
    guessed; no account bucket, so one person's typing errors never hold up another's setup)."""
    return limiter.shared_limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], scope="login-ip",
                                methods=["POST"])(view)


def retry_after() -> int:
    """Seconds until the limit this request broke lets an attempt through again (at least 1)."""
    breached = limiter.current_limit
    return max(1, math.ceil(breached.reset_at - clock.now().timestamp())) if breached is not None else 60


def init_app(app) -> None:
    limiter.init_app(app)
    # Only the decorated sign-in views have limits, and their decorators check them; the hook
    # Flask-Limiter adds to every request would only find nothing to do, on every page.
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:  # absent when rate limiting is switched off
        hooks.remove(limiter._check_request_limit)
