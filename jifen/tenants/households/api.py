"""Households and residents"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("households_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/households", description="Households and residents")
