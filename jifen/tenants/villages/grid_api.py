"""The grid tree and village groups"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("grid_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/grid", description="The grid tree and village groups")
