"""The household's points pages: home, passbook, civility file; corrections and settings for admins."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ledger", __name__, url_prefix="/t/<tenant_slug>/ledger")
