"""Township API: public notices and objections."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("notices_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/notices",
                description="Public notices and objections")
