"""Activity pages: list, create, sign-up, attendance, check-in, participation report."""
from __future__ import annotations

from flask import Blueprint

from jifen.tenants.activities import models  # noqa: F401

bp = Blueprint("activities", __name__, url_prefix="/t/<tenant_slug>/activities")
