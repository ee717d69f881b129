"""Demo data: a settled dividend for Longwo."""
from __future__ import annotations


def load_demo(admin_actor, villages: dict) -> str | None:
    """Add this area's demo data for Longwo (idempotent); returns one line for the demo's summary."""
    return None
