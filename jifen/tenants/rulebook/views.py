"""Township pages for the rulebook, village adoption and commitment signing."""
from __future__ import annotations

from flask import Blueprint

from jifen.tenants.rulebook import service  # noqa: F401

bp = Blueprint("rulebook", __name__, url_prefix="/t/<tenant_slug>/rulebook")
