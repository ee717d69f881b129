"""Rulebook versions, categories and items; village adoption; commitment signing."""
from __future__ import annotations

from jifen.tenants.rulebook import models  # noqa: F401
