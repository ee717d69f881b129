"""Township API: Balances, the passbook, corrections, settings."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("ledger_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/ledger", description="Balances, the passbook, corrections, settings")
