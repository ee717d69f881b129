"""Star ratings, honour titles and recommendation lists: the tables."""
from __future__ import annotations
