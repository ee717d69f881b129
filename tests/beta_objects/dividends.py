"""Township beta's dividend pool of the beta village and a published run of it (the pool and run
pages and API name them). Its public notice token is beta's too: alpha's public URL with it is 404."""
from __future__ import annotations


def objects(found: dict) -> dict:
    from jifen.tenants.dividends.models import DividendPool, DividendRun

    add = found["add"]
    pool = add(DividendPool(village_id=found["village_id"], title="彭坊村分红", amount_fen=100_000,
                            source="collective_income", period=2026, min_points=0, veto_codes=[], base_percent=30))
    run = add(DividendRun(pool_id=pool.id, number=1, state="published", village_id=found["village_id"], period=2026,
                          amount_fen=100_000, base_percent=30, min_points=0, veto_codes=[], households=1,
                          earned_total=10, chunks_total=1, total_fen=100_000, min_fen=100_000, max_fen=100_000,
                          leftover_fen=0, notice_token="beta-dividend-token"))
    return {"dividend_pool_id": pool.id, "dividend_run_id": run.id}
