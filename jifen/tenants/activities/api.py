"""Township API: Activities, sign-up, attendance, check-in."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("activities_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/activities", description="Activities, sign-up, attendance, check-in")
