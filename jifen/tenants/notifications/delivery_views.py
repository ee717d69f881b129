"""Notification delivery and preferences: pages."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("delivery", __name__, url_prefix="/t/<tenant_slug>/notifications")
