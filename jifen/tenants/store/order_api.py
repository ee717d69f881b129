"""Township API: Store orders (redemption)"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("orders_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/orders", description="Store orders (redemption)")
