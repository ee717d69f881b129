"""Township API: Rankings"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("rankings_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/rankings", description="Rankings")
