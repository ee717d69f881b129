"""Township pages for the roster (花名册): template download, upload → preview → confirm, export."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("roster", __name__, url_prefix="/t/<tenant_slug>/roster")
