"""The in-app inbox of a villager's household."""
from __future__ import annotations

from flask import Blueprint

from jifen.tenants.notifications import service  # noqa: F401

bp = Blueprint("inbox", __name__, url_prefix="/t/<tenant_slug>/inbox")
