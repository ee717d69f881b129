"""Households and residents: create, edit, tags, splits and merges, search."""
from __future__ import annotations

from jifen.tenants.households import scopes  # noqa: F401 - registers the household scope kind
