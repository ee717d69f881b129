"""Pages where applications are judged: the work queue, an application's page and its one-tap actions."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("points_review", __name__, url_prefix="/t/<tenant_slug>/points")
