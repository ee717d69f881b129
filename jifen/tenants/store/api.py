"""Points stores, the catalog and stock"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("store_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/stores", description="Points stores, the catalog and stock")
