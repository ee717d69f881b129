"""Township pages for points stores, the catalog and stock."""
from __future__ import annotations

from flask import Blueprint

from jifen.tenants.store import service  # noqa: F401

bp = Blueprint("store", __name__, url_prefix="/t/<tenant_slug>/stores")
