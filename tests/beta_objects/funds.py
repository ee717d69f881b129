"""Township beta's funding record for its store (the record and reversal routes name it)."""
from __future__ import annotations


def objects(found: dict) -> dict:
    from datetime import date

    from jifen.tenants.funds.models import FundRecord

    record = found["add"](FundRecord(kind="donation", amount_fen=50_000, received_on=date(2026, 1, 1),
                                     store_id=found["store_id"]))
    return {"fund_record_id": record.id}
