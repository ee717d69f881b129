"""Rankings: the tables."""
from __future__ import annotations
