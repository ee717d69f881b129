#!/usr/bin/env python3
"""Dividend settlement benchmark on PostgreSQL: a township pool settled by Jifen's chunked worker
path, against one pure-SQL allocation statement, in the same run, at one or more sizes.

    .venv/bin/python bench/dividend_bench.py --households 100000 1000000 2000000 --samples 3 2 1
    .venv/bin/python bench/dividend_bench.py --households 100000 --chunk-size 10000 --processes 2 --json out.json

What it does for each size (see bench/README.md, "Dividend settlement"):
1. creates its own database on the server of --database-url (default
   postgresql+psycopg://postgres@127.0.0.1:5432/postgres, or JIFEN_BENCH_ADMIN_URL), runs the
   migrations through the app, builds the tests' world and points rulebook (tests/conftest.py
   `make_world`, tests/points_world.py `setup_points`), adds --villages villages with a grid node each,
   and generates with generate_series: the households spread over them (1 % moved out), their
   balance rows for the year (earned -5…194 points, 5 % with no row at all) and a D1 deduction
   for 1 % of them; ANALYZE;
2. sets up a township pool (¥5,000,000.00, 30 % equal, at least 10 points, D1 vetoes) through the
   service, and warms the cache with one pass over the eligible households;
3. then, --samples times: the **baseline**, one `INSERT … SELECT` into dividend_payouts computing N
   and W, every floor share and remainder in NUMERIC, and the largest remainder with `row_number()
   OVER (ORDER BY remainder DESC, earned DESC, household id)` (its amounts kept aside, the table
   emptied); and **Jifen**, `settlement.simulate` (the plan in the request, then the chunks and the
   last check, inline as the embedded default runs them: one worker), timed end to end; every
   household's amount is checked to be the baseline's, summing to the pool;
4. with --processes P, one more round with P worker processes calling `settlement.work` on one run.
Prints medians per size, how each phase grows with the data, Jifen/baseline (target <= 1.3 and not
growing with size); drops the databases.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
AMOUNT_FEN = 500_000_000  # ¥5,000,000.00
TARGET = 1.3  # Jifen / baseline (issue 15), and not growing with size
BASE, MIN_POINTS = 30, 10


from bench.scratch import Database, log  # noqa: E402 - after the path is set


def make_app(url: str, **more):
    from jifen import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True,
                       "SERVER_NAME": "jifen.test", "CREDENTIAL_CACHE": "local"} | more)


def in_tenant(app, tenant_id):
    from contextlib import ExitStack

    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant

    stack = ExitStack()
    stack.enter_context(app.app_context())
    stack.enter_context(tenant_scope(db.session.get(Tenant, tenant_id)))
    return stack


def admin_actor():
    from sqlalchemy import select

    from jifen.platform.accounts.models import User
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db

    return actor_for(db.session.execute(select(User).where(User.username == "admin")).scalar_one())


# --- setup -------------------------------------------------------------------------------------

def setup(app, households: int, villages: int) -> dict:
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from jifen.platform import clock
    from jifen.platform.db import db, new_id
    from jifen.tenants.villages.models import GridNode, Village
    from tests.conftest import make_world
    from tests.points_world import setup_points

    with app.app_context():
        upgrade()
        world = make_world()
        setup_points(world)
    tenant_id = world.a.tenant_id
    with in_tenant(app, tenant_id):
        period = clock.today().year
        rows = [(new_id(), new_id()) for _ in range(villages)]
        db.session.execute(insert(Village), [{"tenant_id": tenant_id, "id": v, "name": f"测试村{i}", "code": f"b{i}",
                                              "sort_order": i} for i, (v, _n) in enumerate(rows)])
        db.session.execute(insert(GridNode), [{"tenant_id": tenant_id, "id": n, "level": 4, "name": "微网格",
                                               "village_id": v, "path": f"/{n}/"} for v, n in rows])
        db.session.execute(text("CREATE TEMP TABLE bench_villages (idx int PRIMARY KEY, village_id uuid, node_id uuid)"))
        db.session.execute(text("INSERT INTO bench_villages VALUES (:i, :v, :n)"),
                           [{"i": i, "v": v, "n": n} for i, (v, n) in enumerate(rows)])
        t0 = time.perf_counter()
        db.session.execute(text("""
            INSERT INTO households (tenant_id, id, village_id, grid_node_id, door_plate, head_name, head_pinyin,
                                   head_initials, status, note, created_at, updated_at)
            SELECT :t, gen_random_uuid(), v.village_id, v.node_id, n || '号', '户主' || n, '', '',
                   CASE WHEN n % 100 = 0 THEN 'moved_out' ELSE 'active' END, '', now(), now()
            FROM generate_series(0, :n - 1) n JOIN bench_villages v ON v.idx = n % :v"""),
            {"t": tenant_id, "n": households, "v": villages})
        db.session.execute(text("""
            INSERT INTO household_balances (tenant_id, id, household_id, period, earned, available, updated_at)
            SELECT h.tenant_id, gen_random_uuid(), h.id, :p, e.earned, GREATEST(e.earned, 0), now()
            FROM households h CROSS JOIN LATERAL (SELECT abs(hashtext(h.id::text)) % 200 - 5 AS earned) e
            WHERE h.tenant_id = :t AND abs(hashtext(h.id::text || 'x')) % 20 <> 0"""), {"t": tenant_id, "p": period})
        db.session.execute(text("""
            INSERT INTO ledger_transactions (tenant_id, id, source_kind, source_id, household_id, period, points,
                                             item_code, occurred_on, memo, certified_by, reason, created_by_name,
                                             created_at)
            SELECT h.tenant_id, gen_random_uuid(), 'application', gen_random_uuid(), h.id, :p, -5, 'D1',
                   make_date(:p, 3, 1), '', '', '', '', now()
            FROM households h WHERE h.tenant_id = :t AND abs(hashtext(h.id::text || 'v')) % 100 = 0"""),
            {"t": tenant_id, "p": period})
        db.session.commit()
        log(f"generated {households:,} households over {villages} villages in {time.perf_counter() - t0:.1f} s")
        db.session.execute(text("ANALYZE households, household_balances, ledger_transactions"))
        db.session.commit()
        from jifen.tenants.dividends import pools

        pool = pools.create_pool(admin_actor(), {
            "title": "龙窝镇积分分红（基准）", "village_id": None, "amount": f"{AMOUNT_FEN // 100}",
            "source": "government_subsidy", "period": period, "base_percent": BASE, "min_points": MIN_POINTS,
            "veto_codes": ["D1"]})
        db.session.commit()  # services never commit (the request does)
        return {"tenant_id": tenant_id, "pool_id": pool.id, "period": period}


# --- the baseline: one statement ------------------------------------------------------------------

BASELINE = """
INSERT INTO dividend_payouts (tenant_id, id, run_id, household_id, village_id, chunk_seq, earned, amount_fen,
                              remainder, bonus)
WITH eligible AS (
    SELECT h.id, h.village_id, COALESCE(b.earned, 0) AS earned
    FROM households h LEFT JOIN household_balances b
         ON b.tenant_id = h.tenant_id AND b.household_id = h.id AND b.period = :p
    WHERE h.tenant_id = :t AND h.status = 'active' AND COALESCE(b.earned, 0) >= :min_points
      AND NOT EXISTS (SELECT 1 FROM ledger_transactions x WHERE x.tenant_id = h.tenant_id AND x.household_id = h.id
                      AND x.period = :p AND x.item_code IN ('D1') GROUP BY x.item_code HAVING SUM(x.points) < 0)
), totals AS (
    SELECT COUNT(*)::numeric AS n, SUM(earned)::numeric AS w FROM eligible
), shares AS (
    SELECT e.id, e.village_id, e.earned,
           div(CAST(:a AS numeric) * :base * t.w + CAST(:a AS numeric) * (100 - :base) * t.n * e.earned, 100 * t.n * t.w) AS fl,
           mod(CAST(:a AS numeric) * :base * t.w + CAST(:a AS numeric) * (100 - :base) * t.n * e.earned, 100 * t.n * t.w) AS rem
    FROM eligible e CROSS JOIN totals t
), ranked AS (
    SELECT s.*, ROW_NUMBER() OVER (ORDER BY s.rem DESC, s.earned DESC, s.id ASC) AS rn,
           :a - SUM(s.fl) OVER () AS k
    FROM shares s
)
SELECT :t, gen_random_uuid(), :run, id, village_id, 0, earned, (fl + CASE WHEN rn <= k THEN 1 ELSE 0 END)::bigint,
       rem, rn <= k
FROM ranked"""


def baseline(app, env, sample: int = 0) -> float:
    from sqlalchemy import text

    from jifen.platform.db import db
    from jifen.tenants.dividends.models import DividendRun

    with in_tenant(app, env["tenant_id"]):
        run = DividendRun(pool_id=env["pool_id"], number=-1 - sample, state="superseded", period=env["period"],
                          amount_fen=AMOUNT_FEN, base_percent=BASE, min_points=MIN_POINTS, veto_codes=["D1"])
        db.session.add(run)
        db.session.commit()
        t0 = time.perf_counter()
        db.session.execute(text("SET LOCAL jit = off"))  # as the settlement runs (see settlement._no_jit)
        n = db.session.execute(text(BASELINE), {"t": env["tenant_id"], "p": env["period"], "min_points": MIN_POINTS,
                                                "a": AMOUNT_FEN, "base": BASE, "run": run.id}).rowcount
        db.session.commit()
        elapsed = time.perf_counter() - t0
        db.session.execute(text("DROP TABLE IF EXISTS bench_expected"))
        db.session.execute(text("CREATE TABLE bench_expected AS SELECT household_id, amount_fen FROM dividend_payouts "
                                "WHERE run_id = :r"), {"r": run.id})
        db.session.execute(text("TRUNCATE dividend_payouts"))
        db.session.commit()
    log(f"baseline: {n:,} payouts in {elapsed:.2f} s")
    return elapsed


def check(app, env, run_id) -> None:
    from sqlalchemy import text

    from jifen.platform.db import db

    with in_tenant(app, env["tenant_id"]):
        n, total, differ = db.session.execute(text("""
            SELECT COUNT(*), SUM(p.amount_fen), COUNT(*) FILTER (WHERE e.amount_fen IS DISTINCT FROM p.amount_fen)
            FROM dividend_payouts p FULL JOIN bench_expected e ON e.household_id = p.household_id
            WHERE p.run_id = :r OR p.run_id IS NULL"""), {"r": run_id}).one()
        assert total == AMOUNT_FEN and differ == 0, (n, total, differ)
        log(f"checked: {n:,} payouts, same amounts as the baseline, sum {total:,} fen")
        db.session.execute(text("TRUNCATE dividend_payouts"))
        db.session.commit()


def phases(app, env, run_id) -> dict:
    """Plan, chunks and last step, from the run's and chunks' own timestamps."""
    from sqlalchemy import func, select

    from jifen.platform.db import db
    from jifen.tenants.dividends.models import DividendChunk, DividendRun

    with in_tenant(app, env["tenant_id"]):
        run = db.session.get(DividendRun, (env["tenant_id"], run_id))
        first, last = db.session.execute(select(func.min(DividendChunk.claimed_at), func.max(DividendChunk.done_at))
                                         .where(DividendChunk.run_id == run_id)).one()
        return {"plan": (first - run.started_at).total_seconds(), "chunks": (last - first).total_seconds(),
                "last_step": (run.computed_at - last).total_seconds(), "chunks_total": run.chunks_total,
                "leftover": run.leftover_fen, "households": run.households}


# --- Jifen -----------------------------------------------------------------------------------------

def service_inline(app, env) -> tuple[float, object]:
    from jifen.platform.db import db
    from jifen.tenants.dividends import settlement

    with in_tenant(app, env["tenant_id"]):
        t0 = time.perf_counter()
        run = settlement.simulate(admin_actor(), env["pool_id"])
        db.session.commit()  # as the request does: the job outbox runs the job inline here
        db.session.refresh(run)
        elapsed = time.perf_counter() - t0
        assert run.state == "simulated", (run.state, run.error)
        log(f"Jifen, inline (1 worker): {run.households:,} households, {run.chunks_total} chunks in {elapsed:.2f} s")
        return elapsed, run.id


def _worker(url, tenant_id, run_id, chunk_size, barrier, out):
    app = make_app(url, DIVIDEND_CHUNK_SIZE=chunk_size)
    from jifen.tenants.dividends import settlement

    with in_tenant(app, tenant_id):
        barrier.wait()
        out.put(settlement.work(run_id))


def service_processes(url, env, procs: int, chunk_size: int) -> tuple[float, object, float]:
    """The plan in this process (as the request does), then `procs` worker processes share the run."""
    from jifen.platform.db import db
    from jifen.tenants.dividends import settlement

    app = make_app(url, DIVIDEND_CHUNK_SIZE=chunk_size, TASKS_EAGER=False,
                   CELERY={"broker_url": "memory://", "task_always_eager": False})
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs + 1), ctx.Queue()
    with in_tenant(app, env["tenant_id"]):
        t0 = time.perf_counter()
        run = settlement.simulate(admin_actor(), env["pool_id"])  # published to an in-memory queue nobody reads
        db.session.commit()
        run_id = run.id
    planned = time.perf_counter() - t0
    workers = [ctx.Process(target=_worker, args=(url, env["tenant_id"], run_id, chunk_size, barrier, out))
               for _ in range(procs)]
    for w in workers:
        w.start()
    barrier.wait()
    t1 = time.perf_counter()
    results = [out.get(timeout=3600) for _ in workers]
    elapsed = planned + time.perf_counter() - t1
    for w in workers:
        w.join()
    assert sum(r["finished"] for r in results) == 1, results
    log(f"Jifen, {procs} worker processes: {sum(r['chunks'] for r in results)} chunks in {elapsed:.2f} s "
        f"(plan {planned:.2f} s)")
    return elapsed, run_id, planned


def median(xs):
    return statistics.median(xs)


def measure(args, households: int, samples: int) -> dict:
    """One size: its own database, then `samples` rounds of baseline and Jifen inline (and, if
    --processes, one round of worker processes at the end); medians."""
    from jifen.tenants.dividends.settlement import DEFAULT_CHUNK_SIZE

    database = Database(args.database_url, "dividend")
    try:
        chunk = args.chunk_size or DEFAULT_CHUNK_SIZE
        app = make_app(database.url, DIVIDEND_CHUNK_SIZE=chunk)
        t0 = time.perf_counter()
        env = setup(app, households, args.villages)
        log(f"setup in {time.perf_counter() - t0:.1f} s")
        from sqlalchemy import text

        from jifen.platform.db import db
        with in_tenant(app, env["tenant_id"]):  # warm the cache: one pass over households and balances
            db.session.execute(text("SELECT COUNT(*), SUM(b.earned) FROM households h LEFT JOIN household_balances b "
                                    "ON b.tenant_id = h.tenant_id AND b.household_id = h.id"))
            db.session.rollback()
        rounds = []
        for i in range(samples):
            base = baseline(app, env, i)
            inline, run_id = service_inline(app, env)
            split = phases(app, env, run_id)
            check(app, env, run_id)
            rounds.append({"baseline": base, "inline": inline} | split)
            log(f"{households:,} households, sample {i + 1}/{samples}: baseline {base:.2f} s, Jifen {inline:.2f} s, "
                f"ratio {inline / base:.2f} (plan {split['plan']:.2f}, chunks {split['chunks']:.2f}, "
                f"last step {split['last_step']:.2f}); load {os.getloadavg()[0]:.1f}")
        result = {"households": households, "eligible": rounds[0]["households"], "chunk_size": chunk,
                  "chunks_total": rounds[0]["chunks_total"], "leftover": rounds[0]["leftover"], "samples": samples,
                  "rounds": rounds, "loadavg_after": os.getloadavg()}
        for key in ("baseline", "inline", "plan", "chunks", "last_step"):
            result[key] = median([r[key] for r in rounds])
        result["ratio"] = median([r["inline"] / r["baseline"] for r in rounds])
        if args.processes:
            multi, run_id, planned = service_processes(database.url, env, args.processes, chunk)
            result["multi"] = multi
            result["multi_split"] = phases(app, env, run_id) | {"plan": planned}  # the workers start after the plan
            check(app, env, run_id)
        return result
    finally:
        if args.keep:
            log(f"kept database {database.name}")
        else:
            database.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("JIFEN_BENCH_ADMIN_URL", DEFAULT_ADMIN))
    parser.add_argument("--households", type=int, nargs="+", default=[1_000_000],
                        help="one or more sizes, each in its own database (e.g. 100000 1000000 2000000)")
    parser.add_argument("--villages", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=None, help="default: the app's DIVIDEND_CHUNK_SIZE")
    parser.add_argument("--samples", type=int, nargs="+", default=[3],
                        help="rounds of baseline + Jifen per size (medians), one per size; the last repeats")
    parser.add_argument("--processes", type=int, default=0, help="also one round with this many worker processes")
    parser.add_argument("--json")
    parser.add_argument("--keep", action="store_true", help="keep the databases (for EXPLAIN); prints their names")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # drop the database on kill too
    load_before = os.getloadavg()
    samples = args.samples + args.samples[-1:] * len(args.households)
    results = [measure(args, n, k) for n, k in zip(args.households, samples, strict=False)]
    print(f"\nDividend settlement on PostgreSQL, Jifen (1 worker, inline) against one INSERT … SELECT; medians; "
          f"target <= {TARGET}; load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after (1 min)\n")
    print("| households | eligible | samples | baseline s | Jifen s | plan | chunks | last step | / baseline | target |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['households']:,} | {r['eligible']:,} | {r['samples']} | {r['baseline']:.2f} | {r['inline']:.2f} | "
              f"{r['plan']:.2f} | {r['chunks']:.2f} | {r['last_step']:.2f} | **{r['ratio']:.2f}** | "
              f"{'met' if r['ratio'] <= TARGET else 'missed'} |")
    if len(results) > 1:
        first = results[0]
        print("\nHow it grows with size (against the smallest):\n")
        print("| households | x data | x baseline | x Jifen | x plan | x chunks | x last step | ratio |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            grow = [r[k] / first[k] if first[k] else float("nan")
                    for k in ("baseline", "inline", "plan", "chunks", "last_step")]
            print(f"| {r['households']:,} | {r['households'] / first['households']:.1f} | "
                  + " | ".join(f"{g:.1f}" for g in grow) + f" | {r['ratio']:.2f} |")
    for r in results:
        if "multi" in r:
            print(f"\n{r['households']:,} households, {args.processes} worker processes (1 round): {r['multi']:.2f} s, "
                  f"{r['multi'] / r['baseline']:.2f} x the baseline's median")
    print("\namounts identical to the baseline's for every household, in every round")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_before": load_before, "results": results}, indent=2))
    return 0 if all(r["ratio"] <= TARGET for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
