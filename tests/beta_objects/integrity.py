"""A township beta integrity signal, for `signal_id` in the integrity routes."""
from __future__ import annotations

from datetime import date


def objects(found: dict) -> dict:
    from jifen.tenants.integrity.models import IntegritySignal

    signal = found["add"](IntegritySignal(kind="separation", village_id=found["village_id"], subject_name="张三",
                                          household_id=found["household_id"], records=[], numbers={},
                                          dedupe_key="beta", detected_on=date(2026, 1, 1)))
    return {"signal_id": signal.id}
