"""The security headers every response carries, set in one place after each request.

- Content-Security-Policy. Pages run only this site's files and the inline `<script>`/`<style>`
  blocks that carry the request's nonce (`csp_nonce()` in templates); the small behaviours that
  were inline handlers (print, confirm, select, submit on change) live in static/jifen.js. Style
  *attributes* stay allowed (`style-src-attr`): the bar charts set their widths with them, and a
  style attribute cannot run code. Images: this site and `data:` (QR codes are inline SVG). The
  API answers JSON and needs nothing (`default-src 'none'`); its Swagger UI page gets the page
  policy plus inline styles, which the Swagger UI bundle injects.
- Cache-Control: no-store on every response made for a signed-in user (pages and API alike, all
  but the static files): a shared or back-button cache must never show one person's households
  or tokens to the next. A static file asked for by its versioned URL (`?v=<content hash>`, see
  static_version.py) is kept a year (`immutable`), as nginx does in front, when the hash is the
  file's own; without one an hour, with another one not at all (static_version.cache_control).
- A JSON data block (`<script type="application/json" data-chart>`, templates/_charts.html) is
  not a script: browsers never run it and the policy does not apply; static/charts.js reads it.
"""
from __future__ import annotations

import secrets

from flask import g, request, session

from jifen.platform import static_version
from jifen.platform.api import is_api_request

SWAGGER_UI_ENDPOINT = "api-docs.openapi_swagger_ui"
ASSET_ENDPOINTS = ("static", "swagger_ui")  # the same files for everyone: cacheable


def csp_nonce() -> str:
    """This request's nonce for inline `<script>` and `<style>` blocks (made on first use)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def _page_policy(inline_styles: bool = False) -> str:
    nonce = f"'nonce-{csp_nonce()}'"
    styles = "'self' 'unsafe-inline'" if inline_styles else f"'self' {nonce}"
    return (f"default-src 'self'; script-src 'self' {nonce}; style-src {styles}; "
            "style-src-attr 'unsafe-inline'; img-src 'self' data:; font-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def _signed_in() -> bool:
    """A user was resolved, or the request carries a credential (also on a 404 for an unknown
    address, which is answered before anyone is resolved)."""
    return g.get("actor") is not None or "auth" in session or "Authorization" in request.headers


def secure(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint == SWAGGER_UI_ENDPOINT:
        response.headers.setdefault("Content-Security-Policy", _page_policy(inline_styles=True))
    elif is_api_request():
        response.headers.setdefault("Content-Security-Policy", API_POLICY)
    else:
        response.headers.setdefault("Content-Security-Policy", _page_policy())
        response.headers.setdefault("X-Frame-Options", "DENY")
    if request.endpoint == "static" and response.status_code in (200, 304):
        response.headers["Cache-Control"] = static_version.cache_control(
            request.view_args.get("filename", ""), request.args.get("v"))
    if _signed_in() and request.endpoint not in ASSET_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
