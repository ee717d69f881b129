"""Dividends: pages."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dividends", __name__, url_prefix="/t/<tenant_slug>/dividends")
