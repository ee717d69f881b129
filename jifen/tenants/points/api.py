"""Township API: Applications and their judging, public notices, objections."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("applications_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/points", description="Applications and their judging, public notices, objections")
