"""Star ratings, honour titles and recommendation lists: pages."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("honours", __name__, url_prefix="/t/<tenant_slug>/honours")
