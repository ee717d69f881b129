"""Township pages for the grid tree and village groups."""
from __future__ import annotations

from flask import Blueprint

from jifen.platform.files import service  # noqa: F401
from jifen.tenants.villages import scopes  # noqa: F401

bp = Blueprint("grid", __name__, url_prefix="/t/<tenant_slug>/grid")
