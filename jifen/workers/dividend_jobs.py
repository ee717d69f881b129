"""Dividend settlement runs in chunks."""
from __future__ import annotations
