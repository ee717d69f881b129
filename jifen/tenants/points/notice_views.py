"""Public notice pages: the staff list, a notice, its public page and printable A4, objections."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("notices", __name__, url_prefix="/t/<tenant_slug>/notices")
