"""Stores, catalog items and stock movements."""
from __future__ import annotations

from jifen.tenants.store import scopes  # noqa: F401 - registers the store scope kind
