"""Roster (花名册) import and export"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("roster_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/roster",
                description="Roster (花名册) import and export")
