#!/usr/bin/env python3
"""Beat tick benchmark on PostgreSQL: one tick's claim over 2,000 townships, against the bare
INSERT … SELECT doing the same work, and the spread of the townships' nightly start times.

    .venv/bin/python bench/beat_bench.py                     # 2,000 townships, ~1 min
    .venv/bin/python bench/beat_bench.py --townships 500 --pairs 5 --json out.json

What one run does (see bench/README.md, "Beat tick"):
1. creates its own database on the server of --database-url (default JIFEN_BENCH_ADMIN_URL or
   postgresql+psycopg://postgres@127.0.0.1:5432/postgres), runs the migrations and writes
   --townships active townships (Asia/Shanghai) with one INSERT … SELECT generate_series;
2. measures, alternating, --pairs times each, at 12:00 Shanghai time (every registered daily job is
   due: the heaviest tick, townships × jobs rows), with job_runs emptied before each run:
   (a) bare: the claim statement's INSERT … SELECT (tenants × jobs, due by local minute and offset,
       ON CONFLICT DO NOTHING) through bare psycopg, committed;
   (b) claim: `schedule.claim_due` as the beat tick calls it (SQLAlchemy session, RETURNING the
       claimed rows into Python, commit);
   (c) the per-township loop the claim replaced (one INSERT … ON CONFLICT per township and job),
       once, for comparison;
   then the steady tick (everything already claimed: what most ticks of the day are), both ways;
3. replays one night: a tick every BEAT_TICK_SECONDS (300 s) from 00:00 to 07:00 Shanghai time,
   counting the runs each tick claims and timing it, and prints how the townships' start minutes
   of the 01:30 ranking spread over the window (before: all of them in the 01:30 tick);
4. drops the database.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import Database, log  # noqa: E402 - after the path is set

DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def make_app(url: str):
    from jifen import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "SERVER_NAME": "jifen.test"})


def setup(app, townships: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from jifen.platform.db import db
    from jifen.platform.townships.service import get_or_create_county

    with app.app_context():
        upgrade()
        county = get_or_create_county("紫金县", "zijin")
        db.session.flush()
        db.session.execute(text("""
            INSERT INTO tenants (id, county_id, slug, name, timezone, default_locale, status, created_at)
            SELECT gen_random_uuid(), :county, 't' || n, '乡镇' || n, 'Asia/Shanghai', 'zh_CN', 'active', now()
            FROM generate_series(1, :n) AS n"""), {"county": county.id, "n": townships})
        db.session.commit()
        db.session.execute(text("ANALYZE tenants"))
        db.session.commit()


def local(day, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


def bare(dsn: str, now: datetime, params: dict) -> tuple[float, int]:
    """The same claim as one plain INSERT … SELECT through bare psycopg (no anti-join, no RETURNING)."""
    import psycopg

    from jifen.platform.jobs.schedule import _OFFSET_SQL

    sql = f"""
        INSERT INTO job_runs (tenant_id, id, job, local_date, status, claimed_at, attempts)
        SELECT t.id, gen_random_uuid(), j.job, (%(now)s::timestamptz AT TIME ZONE t.timezone)::date, 'claimed',
               %(now)s, 0
        FROM tenants t, unnest(%(jobs)s::text[], %(ats)s::int[], %(spreads)s::bool[]) AS j(job, at_minute, spread)
        WHERE t.status = 'active'
          AND extract(hour FROM %(now)s::timestamptz AT TIME ZONE t.timezone) * 60
              + extract(minute FROM %(now)s::timestamptz AT TIME ZONE t.timezone)
              >= least(j.at_minute + CASE WHEN j.spread THEN {_OFFSET_SQL.replace(' % :spread', ' %% %(spread)s')}
                                                       ELSE 0 END, 1439)
        ON CONFLICT (tenant_id, job, local_date) DO NOTHING"""
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        n = conn.execute(sql, params | {"now": now}).rowcount
        conn.commit()
        return time.perf_counter() - started, n


def claim(app, now: datetime) -> tuple[float, int]:
    from jifen.platform.db import db
    from jifen.platform.jobs.schedule import claim_due

    with app.app_context():
        db.session.connection()  # a pooled connection, as a worker's tick has
        db.session.commit()
        started = time.perf_counter()
        n = len(claim_due(now))
        return time.perf_counter() - started, n


def old_loop(app, now: datetime) -> tuple[float, int]:
    """The claim as it was before: every active township loaded, one INSERT per township and job."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from jifen.platform import clock
    from jifen.platform.db import db, new_id
    from jifen.platform.jobs.models import JobRun
    from jifen.platform.jobs.schedule import DAILY_JOBS
    from jifen.platform.townships.models import Tenant

    with app.app_context():
        started = time.perf_counter()
        n = 0
        for tenant in db.session.execute(select(Tenant).where(Tenant.status == Tenant.ACTIVE)).scalars().all():
            loc = now.astimezone(clock.zone(tenant))
            for job in DAILY_JOBS.values():
                if loc.time() < job.at:
                    continue
                stmt = postgresql.insert(JobRun).values(
                    tenant_id=tenant.id, id=new_id(), job=job.name, local_date=loc.date(), status=JobRun.CLAIMED,
                    claimed_at=now, attempts=0,
                ).on_conflict_do_nothing(index_elements=["tenant_id", "job", "local_date"]).returning(JobRun.id)
                n += db.session.execute(stmt).first() is not None
        db.session.commit()
        return time.perf_counter() - started, n


def empty(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE job_runs CASCADE")
        conn.execute("VACUUM ANALYZE job_runs")


def night(app, dsn: str, day, tick_seconds: int) -> dict:
    empty(dsn)
    moment, end = local(day, 0, 0), local(day, 7, 0)
    per_tick, times = [], []
    while moment <= end:
        seconds, n = claim(app, moment)
        per_tick.append((moment.astimezone(SHANGHAI).strftime("%H:%M"), n))
        times.append(seconds)
        moment += timedelta(seconds=tick_seconds)
    return {"ticks": len(per_tick), "claimed": sum(n for _t, n in per_tick),
            "max_per_tick": max(n for _t, n in per_tick), "busiest": max(per_tick, key=lambda t: t[1]),
            "tick_ms_max": round(max(times) * 1000, 1), "tick_ms_median": round(statistics.median(times) * 1000, 1),
            "per_tick": per_tick}


def spread(app) -> dict:
    from sqlalchemy import select

    from jifen.platform.db import db
    from jifen.platform.jobs.schedule import DAILY_JOBS, starts_at
    from jifen.platform.townships.models import Tenant
    from jifen.workers.ranking_jobs import NIGHTLY

    with app.app_context():
        ids = db.session.execute(select(Tenant.id)).scalars().all()
    minutes = Counter(starts_at(DAILY_JOBS[NIGHTLY], t) for t in ids)
    counts = [minutes.get(m, 0) for m in range(min(minutes), max(minutes) + 1)]
    first, last = min(minutes), max(minutes)
    return {"job": NIGHTLY, "first": f"{first // 60:02d}:{first % 60:02d}", "last": f"{last // 60:02d}:{last % 60:02d}",
            "minutes_used": len(minutes), "per_minute_max": max(counts), "per_minute_mean": round(statistics.mean(counts), 1),
            "per_minute_stdev": round(statistics.pstdev(counts), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("JIFEN_BENCH_ADMIN_URL", DEFAULT_ADMIN))
    ap.add_argument("--townships", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from jifen.platform.jobs.schedule import DAILY_JOBS, claim_params

    database = Database(args.database_url, "beat")
    try:
        app = make_app(database.url)
        setup(app, args.townships)
        log(f"{args.townships} townships written; {len(DAILY_JOBS)} daily jobs registered")
        from jifen.platform import clock

        day = datetime.now(SHANGHAI).date()  # noqa: DTZ005 - the bench picks a day; the app's clock is not involved
        noon = local(day, 12)
        params = claim_params(noon)
        params = {k: v for k, v in params.items() if k in ("jobs", "ats", "spreads", "spread")}
        bare_t, claim_t = [], []
        for _ in range(args.pairs):
            empty(database.dsn)
            t, n_bare = bare(database.dsn, noon, params)
            bare_t.append(t)
            empty(database.dsn)
            t, n_claim = claim(app, noon)
            claim_t.append(t)
            assert n_bare == n_claim == args.townships * len(DAILY_JOBS), (n_bare, n_claim)
        steady_claim = min(claim(app, noon)[0] for _ in range(args.pairs))
        steady_bare = min(bare(database.dsn, noon, params)[0] for _ in range(args.pairs))
        empty(database.dsn)
        old_t, n_old = old_loop(app, noon)
        assert n_old == args.townships * len(DAILY_JOBS)
        result = {
            "townships": args.townships, "jobs": len(DAILY_JOBS), "rows": n_claim,
            "full_tick": {"bare_s": round(min(bare_t), 3), "claim_s": round(min(claim_t), 3),
                          "ratio": round(min(claim_t) / min(bare_t), 2), "old_loop_s": round(old_t, 3)},
            "steady_tick": {"bare_s": round(steady_bare, 3), "claim_s": round(steady_claim, 3),
                            "ratio": round(steady_claim / steady_bare, 2)},
            "spread": spread(app),
            "night": night(app, database.dsn, day, int(app.config["BEAT_TICK_SECONDS"])),
        }
        del clock
    finally:
        database.drop()
    f, s, sp, ni = result["full_tick"], result["steady_tick"], result["spread"], result["night"]
    print(f"{result['townships']} townships x {result['jobs']} daily jobs = {result['rows']} runs")
    print(f"full tick (every job due): claim_due {f['claim_s']:.3f} s, bare INSERT…SELECT {f['bare_s']:.3f} s, "
          f"ratio {f['ratio']}; the old per-township loop {f['old_loop_s']:.3f} s")
    print(f"steady tick (all claimed): claim_due {s['claim_s']:.3f} s, bare {s['bare_s']:.3f} s, ratio {s['ratio']}")
    print(f"{sp['job']} (01:30) starts from {sp['first']} to {sp['last']}: {sp['minutes_used']} minutes used, "
          f"per minute max {sp['per_minute_max']}, mean {sp['per_minute_mean']}, stdev {sp['per_minute_stdev']} "
          f"(before: all {result['townships']} at 01:30)")
    print(f"one night, a tick every 300 s: {ni['ticks']} ticks claimed {ni['claimed']} runs; at most "
          f"{ni['max_per_tick']} in one tick ({ni['busiest'][0]}); tick time median {ni['tick_ms_median']} ms, "
          f"max {ni['tick_ms_max']} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
