"""Store jobs: expire unclaimed orders."""
from __future__ import annotations
