"""Township API: Dividends"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("dividends_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/dividends", description="Dividends")
