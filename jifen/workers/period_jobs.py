"""Period close at the end of the year."""
from __future__ import annotations
