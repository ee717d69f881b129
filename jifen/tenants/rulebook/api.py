"""The rulebook, village adoption and commitment signing"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("rulebook_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/rulebook", description="The rulebook, village adoption and commitment signing")
