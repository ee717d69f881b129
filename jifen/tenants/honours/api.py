"""Township API: Star ratings, honour titles and recommendation lists"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("honours_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/honours", description="Star ratings, honour titles and recommendation lists")
