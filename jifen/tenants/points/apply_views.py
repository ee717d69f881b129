"""Pages where applications come to be: self-application, proxy entry, staff records, batch sheets."""
from __future__ import annotations

from flask import Blueprint

from jifen.tenants.points import applications, entries, notices, posting  # noqa: F401

bp = Blueprint("points_apply", __name__, url_prefix="/t/<tenant_slug>/points")
