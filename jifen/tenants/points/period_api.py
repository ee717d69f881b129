"""Township API: Period close"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("periods_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/periods", description="Period close")
