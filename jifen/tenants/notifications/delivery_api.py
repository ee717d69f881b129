"""Township API: Notification delivery and preferences"""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("delivery_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/notifications", description="Notification delivery and preferences")
