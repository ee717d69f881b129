"""Township pages for households and residents."""
from __future__ import annotations

from flask import Blueprint

from jifen.tenants.households import service  # noqa: F401

bp = Blueprint("households", __name__, url_prefix="/t/<tenant_slug>/households")
