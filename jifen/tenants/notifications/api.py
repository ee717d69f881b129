"""Township API: The in-app inbox."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("inbox_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/inbox", description="The in-app inbox")
