"""Rankings: pages."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rankings", __name__, url_prefix="/t/<tenant_slug>/rankings")
