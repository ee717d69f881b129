#!/usr/bin/env python3
"""A county's night on one server: every daily job of --townships townships, timed per job.

    .venv/bin/python bench/county_night_bench.py                       # 200 x 2,000 households
    .venv/bin/python bench/county_night_bench.py --townships 100 --warm-facts --json out.json

What one run does (see bench/README.md, "A county's night"):
1. creates its own database (--database-url, default JIFEN_BENCH_ADMIN_URL or
   postgresql+psycopg://postgres@127.0.0.1:5432/postgres), runs the migrations through the app and
   onboards --townships townships (Asia/Shanghai) through the service;
2. generates per township, with cockpit_bench's INSERT … SELECT statements (the ledger's keys and
   indexes dropped once for all townships, rebuilt once at the end): --villages villages with a
   grid, --households households, a rulebook adopted, and this year's ledger so far (~--per-household
   entries per household, 2 % corrections; no household below zero, so the balance check must find
   nothing); then tonight's work: one notice per village closing yesterday with --apply % of the
   households' applications on it, and --orders store orders placed 8 days ago through the store
   service (they expire tonight); with --warm-facts, last night's cockpit facts (untimed), so
   tonight's build is incremental as on every night but a township's first;
3. copies the database (a template copy) and runs the same night twice, once per copy: with one
   worker process, then with two (this machine's cores), sharing one queue. The queue holds every
   registered daily job of every township (and one notification delivery pass right after each
   township's notices job, as the beat's delivery task would find the posted items' notices), each
   through its Celery task function inline (run_daily, as the embedded default runs them), in the
   order of their scheduled start (job time + the township's night_offset). The clock is
   compressed: start times give the order only; a worker takes the first queued job as soon as it
   is free, except that a township's jobs never overlap (in the real night they are minutes to
   hours apart);
4. prints per job kind: total seconds, per-township median/p95, rows and the per-row cost; the
   night's wall time with 1 and 2 workers; the busiest clock hour (measured durations placed at
   their scheduled starts: job-seconds per hour = cores needed) and the night's end when the real
   start times are kept (2 workers); checks every run finished 'done' and postings = applications;
   drops the databases (--keep keeps them).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections import defaultdict
from datetime import timedelta
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DELIVER = "jifen.deliver_notifications"  # not a daily job: the beat's delivery pass, run after the notices job

from bench import cockpit_bench as cockpit  # noqa: E402 - after the path is set
from bench.ranking_bench import GIVEN, SURNAMES, make_app  # noqa: E402
from bench.scratch import Database, log  # noqa: E402

# --- generation ------------------------------------------------------------------------------------

# an earned-entries draw over this year so far (cockpit_bench draws over 365 days from its start);
# then no household below zero: deductions dropped where half the awards cannot cover them, so the
# cached balances below are exact and the balance check has nothing to find
NO_NEGATIVE = ("ledger: no household below zero", """
DELETE FROM bench_entries e USING (
    SELECT household_id FROM bench_entries GROUP BY household_id
    HAVING sum(GREATEST(points, 0)) / 2 + sum(LEAST(points, 0)) < 0) n
WHERE e.household_id = n.household_id AND e.points < 0""")
BALANCES = ("household_balances", """
INSERT INTO household_balances (tenant_id, id, household_id, period, earned, available, updated_at)
SELECT %(t)s, gen_random_uuid(), household_id, period, SUM(points), SUM(points), now() FROM (
    SELECT household_id, period, points FROM bench_entries
    UNION ALL SELECT household_id, period, points FROM bench_corrections) x
GROUP BY household_id, period""")
CLEANUP = ("drop staging", "DROP TABLE bench_entries, bench_corrections, bench_orders, v, large, medium, small, micro, "
                           "hh, items, acc")
SKIP = {"uuid7 function", "drop uuid7 function", "household_balances", "drop staging"}


def tenant_steps() -> list[tuple[str, str]]:
    steps = []
    for label, sql in cockpit.GENERATE:
        if label in SKIP:
            continue
        steps.append((label, sql.replace("floor(random() * 365)", "floor(random() * %(days)s)")))
        if label == "ledger: earned entries (staged)":
            steps.append(NO_NEGATIVE)
    return steps + [BALANCES, CLEANUP]


def generate(dsn: str, tenants: list, args, start, days: int) -> None:
    """All townships' data on one connection: the ledger's indexes dropped once and rebuilt once."""
    import psycopg

    steps = tenant_steps()
    entries = args.households * args.per_household
    params = {"villages": args.villages, "households": args.households, "surnames": SURNAMES, "given": GIVEN,
              "zh": [c[0] for c in cockpit.CATEGORIES], "en": [c[1] for c in cockpit.CATEGORIES], "start": start,
              "days": days, "entries": round(entries * 0.98), "corrections": round(entries * 0.02), "orders": 0}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET session_replication_role = replica")  # generated rows: skip the foreign-key triggers
        conn.execute("SET work_mem = '64MB'")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute(cockpit.UUID7)
        drops, creates, foreign = cockpit.ledger_schema(conn)
        for sql in drops:
            conn.execute(sql)
        conn.commit()
        t0 = time.perf_counter()
        for n, tenant_id in enumerate(tenants, 1):
            for label, sql in steps:
                try:
                    conn.execute(sql, params | {"t": tenant_id})
                except Exception as e:
                    e.add_note(f"generating step {label!r}")
                    raise
                if n <= 3 and label in ("grid: micro rows", "households"):  # plans from empty tables are bad
                    conn.execute("ANALYZE grid_nodes, households")
            conn.commit()
            if n % 10 == 0 or n == len(tenants):
                log(f"  generated {n}/{len(tenants)} townships ({time.perf_counter() - t0:.0f} s)")
        for sql in creates + foreign:
            t1 = time.perf_counter()
            conn.execute(sql)
            log(f"  {sql[:80]} ({time.perf_counter() - t1:.1f} s)")
        conn.execute("DROP FUNCTION bench_uuid7(timestamptz)")
        conn.commit()


TONIGHT = [
    ("notices closing tonight", """
INSERT INTO notices (tenant_id, id, village_id, number, opens_on, closes_on, status, public_token, item_count,
                     created_by_name, created_at)
SELECT tenant_id, gen_random_uuid(), id, 1, %(day)s::date - 6, %(day)s::date - 1, 'open',
       substr(md5(random()::text), 1, 32), 0, '管理员', now() - interval '6 days'
FROM villages WHERE tenant_id = ANY(%(tenants)s)"""),
    ("applications on them", """
INSERT INTO applications (tenant_id, id, household_id, village_id, item_id, item_code, version_id, points, occurred_on,
                          description, origin, state, submitted_by_name, verified_by_name, certified_by_names,
                          notice_id, reject_reason, created_at, updated_at)
SELECT h.tenant_id, gen_random_uuid(), h.id, h.village_id, i.id, i.code, i.version_id, i.points_default,
       %(day)s::date - 8, '打扫公共区域', 'self', 'on_notice', '户主', '网格员', '评议组、村民代表', n.id, '',
       now() - interval '7 days', now() - interval '6 days'
FROM households h
JOIN notices n ON n.tenant_id = h.tenant_id AND n.village_id = h.village_id
JOIN rule_items i ON i.tenant_id = h.tenant_id AND i.code = 'A01'
WHERE h.status = 'active' AND h.tenant_id = ANY(%(tenants)s) AND random() < %(share)s"""),
    ("notice item counts", """
UPDATE notices n SET item_count = c.k FROM (
    SELECT tenant_id, notice_id, count(*) AS k FROM applications WHERE tenant_id = ANY(%(tenants)s)
    GROUP BY tenant_id, notice_id) c
WHERE c.tenant_id = n.tenant_id AND c.notice_id = n.id"""),
]


def onboard(op, numbers) -> tuple[list, object]:
    """Townships `xz001`... onboarded through the service (committed): their ids and today's date there."""
    from jifen.platform import clock
    from jifen.platform.db import db
    from jifen.platform.townships import service as townships

    tenants = []
    for n in numbers:
        tenant, _admin, _ = townships.onboard(op, {
            "slug": f"xz{n:03d}", "name": f"乡镇{n}", "timezone": "Asia/Shanghai", "admin_username": "admin",
            "admin_display_name": "管理员"})
        tenants.append(tenant.id)
    db.session.commit()
    return tenants, clock.today(tenant)


def tonight(app, dsn: str, tenants: list, day, args) -> dict:
    """Applications on notices closing tonight (bulk SQL), and store orders 8 days old (the service),
    for `tenants` only (citus_bench adds townships to a database in steps)."""
    import psycopg
    from sqlalchemy import select

    from jifen.platform import clock
    from jifen.platform.accounts.models import User
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.households.models import Household
    from jifen.tenants.points.models import HouseholdBalance
    from jifen.tenants.store import orders, service

    with psycopg.connect(dsn) as conn:
        for label, sql in TONIGHT:
            cur = conn.execute(sql, {"day": day, "share": args.apply / 100, "tenants": list(tenants)})
            log(f"  {label}: {cur.rowcount}")
        applications = conn.execute("SELECT count(*) FROM applications WHERE state = 'on_notice' "
                                    "AND tenant_id = ANY(%s)", (list(tenants),)).fetchone()[0]
        conn.commit()
    placed = 0
    with app.app_context():
        for tenant_id in tenants:
            tenant = db.session.get(Tenant, tenant_id)
            with tenant_scope(tenant):
                admin = actor_for(db.session.execute(select(User)).scalars().first())
                store = service.create_store(admin, {"name": "积分超市", "village_id": None, "address": "镇政府一楼",
                                                     "opening_hours": "周一至周五"})
                item = service.create_catalog_item(admin, {"name": "牙膏", "name_en": "Toothpaste",
                                                           "category": "个人护理", "price_points": 10, "unit": "支",
                                                           "sort_order": 10})
                service.move_stock(admin, store.id, item.id, "restock", 10 * args.orders + 10, "donation", 850,
                                   "爱心企业捐赠")
                db.session.commit()
                households = db.session.execute(
                    select(Household.id).join(HouseholdBalance, HouseholdBalance.household_id == Household.id)
                    .where(HouseholdBalance.available >= 20, Household.status == "active").limit(args.orders)
                ).scalars().all()
                with clock.at(clock.now() - timedelta(days=8)):
                    for household_id in households:
                        orders.place_order(admin, {"household_id": str(household_id), "store_id": str(store.id),
                                                   "lines": [{"catalog_item_id": str(item.id), "quantity": 1}]})
                        db.session.commit()
                        placed += 1
        db.session.remove()
    log(f"  store orders placed 8 days ago: {placed}")
    return {"applications": applications, "orders": placed}


def setup(app, database: Database, args) -> dict:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from jifen.platform.accounts.service import actor_for, create_operator
    from jifen.platform.db import db
    from jifen.platform.townships.service import get_or_create_county

    t0 = time.perf_counter()
    with app.app_context():
        upgrade()
        op = actor_for(create_operator(get_or_create_county("紫金县", "zijin"), "op", "运营员", "Bench-password-2026"))
        db.session.flush()
        tenants, day = onboard(op, range(1, args.townships + 1))
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
    log(f"onboarded {len(tenants)} townships ({time.perf_counter() - t0:.0f} s); tonight is {day}")
    start = day.replace(month=1, day=1)
    t0 = time.perf_counter()
    generate(database.dsn, tenants, args, start, (day - start).days)
    work = tonight(app, database.dsn, tenants, day, args)
    vacuum(database.dsn)
    if args.warm_facts:
        warm_facts(app, tenants, day)
        vacuum(database.dsn)
    log(f"generated ({time.perf_counter() - t0:.0f} s)")
    return {"tenants": tenants, "day": day, **work, **counts(database.dsn)}


def warm_facts(app, tenants: list, day) -> None:
    """Last night's cockpit facts, so tonight's build is incremental, as on every night but a
    township's first (without it the measured night is the first: a full rebuild per township)."""
    from jifen.platform.db import db

    t0 = time.perf_counter()
    with app.app_context():
        task = app.extensions["celery"].tasks["jifen.cockpit_facts"]
        for tenant_id in tenants:
            task(tenant_id=str(tenant_id), local_date=(day - timedelta(days=1)).isoformat())
            db.session.remove()
    log(f"  last night's cockpit facts built ({time.perf_counter() - t0:.0f} s)")


def vacuum(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def counts(dsn: str) -> dict:
    import psycopg

    with psycopg.connect(dsn) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {"households": one("SELECT count(*) FROM households"),
                "transactions": one("SELECT count(*) FROM ledger_transactions"),
                "postings": one("SELECT count(*) FROM ledger_postings"),
                "db_bytes": one("SELECT pg_database_size(current_database())")}


# --- the night -------------------------------------------------------------------------------------

def queue(tenants: list) -> list[tuple[int, str, str]]:
    """(scheduled minute of the local day, job, tenant) for tonight, in start order."""
    from jifen.platform.jobs.schedule import DAILY_JOBS, starts_at
    from jifen.workers.points_jobs import NOTICES

    jobs = []
    for tenant_id in tenants:
        for job in DAILY_JOBS.values():
            jobs.append((starts_at(job, tenant_id), job.name, str(tenant_id)))
        jobs.append((starts_at(DAILY_JOBS[NOTICES], tenant_id) + 1, DELIVER, str(tenant_id)))
    return sorted(jobs)


def worker(url: str, day: str, conn) -> None:
    """One worker process: runs the jobs it is sent, inline, and answers with the time each took."""
    app = make_app(url)
    from jifen.platform.db import db

    celery = app.extensions["celery"]
    with app.app_context():
        while True:
            msg = conn.recv()
            if msg is None:
                return
            minute, name, tenant_id = msg
            if name == "ping":  # the app is built: the night's clock may start
                conn.send("ready")
                continue
            t0 = time.perf_counter()
            if name == DELIVER:
                result = celery.tasks[name](tenant_id)
            else:
                result = celery.tasks[name](tenant_id=tenant_id, local_date=day)
            elapsed = time.perf_counter() - t0
            db.session.remove()
            conn.send((minute, name, tenant_id, t0, elapsed, result))


def night(url: str, tenants: list, day, workers: int) -> dict:
    """Run the night's queue over `workers` processes (see the module docstring for the clock)."""
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for _ in range(workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(url, day.isoformat(), child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for p in pipes:  # the workers' apps are built before the clock starts
        p.send((0, "ping", ""))
    todo, busy, runs = queue(tenants), {}, []
    for p in pipes:
        p.recv()
    load0 = os.getloadavg()
    t0, idle = time.perf_counter(), list(pipes)
    while todo or busy:
        while idle and todo:
            pick = next((j for j in todo if j[2] not in busy.values()), None)
            if pick is None:
                break
            todo.remove(pick)
            pipe = idle.pop()
            busy[pipe] = pick[2]
            pipe.send(pick)
        for pipe in wait(list(busy)):
            runs.append(pipe.recv())
            del busy[pipe]
            idle.append(pipe)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    for p in pipes:
        p.send(None)
    for proc in procs:
        proc.join(30)
    return {"workers": workers, "wall": wall, "load_before": load0, "load_after": load1,
            "runs": [(m, n, t, s - t0, e, r) for m, n, t, s, e, r in runs]}



# --- figures ---------------------------------------------------------------------------------------

def pct(values: list, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


ROW_UNIT = {  # what a job's cost is counted per (the province plan multiplies these)
    "jifen.points_notices": "posting", "jifen.deliver_notifications": "notification",
    "jifen.order_expiry": "order", "jifen.ledger_balance_check": "transaction",
}


def per_kind(runs: list, size: dict, postings: int) -> dict:
    """Per job kind: total, per-township median/p95, rows reported and the cost per row."""
    by = defaultdict(list)
    for _m, name, _t, _s, elapsed, result in runs:
        by[name].append((elapsed, result))
    townships = len(size["tenants"])
    out = {}
    for name, items in sorted(by.items()):
        secs = [e for e, _r in items]
        rows = sum(int((r or {}).get("rows", 0) or 0) for _e, r in items)
        if name == DELIVER:  # its counters: planned deliveries and each send's outcome
            rows = sum(int(v) for _e, r in items for k, v in (r or {}).items() if k != "tenants")
        unit = ROW_UNIT.get(name, "household")
        if name == "jifen.cockpit_facts":
            unit = "transaction"
        count = {"posting": postings, "transaction": size["transactions"], "household": size["households"],
                 "order": size["orders"]}.get(unit, rows)
        if name == DELIVER:
            count = rows
        out[name] = {"runs": len(items), "total_s": sum(secs), "median_s": statistics.median(secs),
                     "p95_s": pct(secs, 0.95), "rows": rows, "unit": unit, "units": count,
                     "s_per_unit": sum(secs) / count if count else None, "s_per_township": sum(secs) / townships}
    return out


def busiest_hour(runs: list) -> tuple[int, dict]:
    """Measured durations placed at their scheduled starts: job-seconds in each clock hour."""
    hours = defaultdict(float)
    for minute, _n, _t, _s, elapsed, _r in runs:
        start = minute * 60.0
        end = start + elapsed
        while start < end:
            edge = (int(start // 3600) + 1) * 3600
            hours[int(start // 3600)] += min(end, edge) - start
            start = edge
    top = max(hours, key=hours.get)
    return top, dict(sorted(hours.items()))


def real_clock_end(runs: list, workers: int) -> float:
    """The night's last end (seconds of the local day) if jobs start at their scheduled time, or when
    one of `workers` is free, with the measured durations."""
    free = [0.0] * workers
    end = 0.0
    for minute, _n, _t, _s, elapsed, _r in sorted(runs, key=lambda r: (r[0], r[1], r[2])):
        i = min(range(workers), key=free.__getitem__)
        start = max(free[i], minute * 60.0)
        free[i] = start + elapsed
        end = max(end, free[i])
    return end


def check(dsn: str, day, size: dict, runs: list) -> dict:
    """Every run 'done'; applications posted = applications put on tonight's notices; orders expired."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        status = dict(conn.execute("SELECT status, count(*) FROM job_runs WHERE local_date = %s GROUP BY status",
                                   (day,)).fetchall())
        posted = conn.execute("SELECT count(*) FROM applications WHERE state = 'posted'").fetchone()[0]
        expired = conn.execute("SELECT count(*) FROM store_orders WHERE state = 'expired'").fetchone()[0]
        problems = conn.execute("SELECT count(*) FROM job_runs WHERE local_date = %s "
                                "AND COALESCE((result->>'problems')::int, 0) > 0",
                                (day,)).fetchone()[0]
    reported = sum(int((r or {}).get("posted", 0) or 0) for _m, n, _t, _s, _e, r in runs if n == "jifen.points_notices")
    daily = sum(1 for r in runs if r[1] != DELIVER)
    ok = (status.get("done", 0) == daily and len(status) == 1 and posted == size["applications"] == reported
          and expired == size["orders"] and problems == 0)
    return {"job_runs": status, "daily_runs": daily, "posted": posted, "posted_reported": reported,
            "applications": size["applications"], "orders_expired": expired, "problem_runs": problems, "ok": ok}


def report(size: dict, nights: list, checks: list) -> dict:
    one = nights[0]
    kinds = per_kind(one["runs"], size, size["applications"])
    top, hours = busiest_hour(one["runs"])
    print(f"\nCounty night: {len(size['tenants'])} townships, {size['households']:,} households, "
          f"{size['transactions']:,} ledger transactions, {size['applications']:,} applications on tonight's "
          f"notices, {size['orders']:,} orders to expire; database {size['db_bytes'] / 2**30:.1f} GiB")
    print(f"\n{'job':34} {'runs':>5} {'total s':>9} {'median s':>9} {'p95 s':>8} {'rows':>9}  cost per row")
    for name, k in kinds.items():
        cost = f"{k['s_per_unit'] * 1e6:,.1f} µs/{k['unit']}" if k["s_per_unit"] else "-"
        print(f"{name:34} {k['runs']:>5} {k['total_s']:>9.2f} {k['median_s']:>9.3f} {k['p95_s']:>8.3f} "
              f"{k['rows']:>9,}  {cost}")
    total = sum(k["total_s"] for k in kinds.values())
    print(f"{'all jobs':34} {'':>5} {total:>9.2f}   = {total / len(size['tenants']):.2f} s per township, "
          f"{total / size['households'] * 1e3:.2f} ms per household")
    for n in nights:
        print(f"\nnight with {n['workers']} worker(s): {n['wall']:.1f} s wall (first start to last end, compressed "
              f"clock); load average before {'/'.join(f'{x:.2f}' for x in n['load_before'])}, after "
              f"{'/'.join(f'{x:.2f}' for x in n['load_after'])}")
    end = real_clock_end(one["runs"], 2)
    print(f"\nbusiest hour (1-worker durations at their scheduled starts): {top:02d}:00-{top + 1:02d}:00 "
          f"with {hours[top]:.1f} job-seconds = {hours[top] / 3600:.3f} cores busy on average")
    print("job-seconds per hour: " + ", ".join(f"{h:02d}h {s:.1f}" for h, s in hours.items()))
    print(f"real clock, 2 workers: the last job ends at {int(end // 3600):02d}:{int(end % 3600 // 60):02d}:"
          f"{int(end % 60):02d} local time")
    for c, n in zip(checks, nights, strict=True):
        print(f"check ({n['workers']} worker(s)): {'OK' if c['ok'] else 'FAILED'} {c}")
    return {"kinds": kinds, "busiest_hour": top, "hours": hours, "real_clock_end_s": end, "total_job_s": total,
            "nights": [{k: v for k, v in n.items() if k != "runs"} for n in nights], "checks": checks,
            "size": {k: v for k, v in size.items() if k not in ("tenants", "day")}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("JIFEN_BENCH_ADMIN_URL", DEFAULT_ADMIN))
    parser.add_argument("--townships", type=int, default=200)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--villages", type=int, default=8)
    parser.add_argument("--per-household", type=int, default=10, help="ledger entries per household this year")
    parser.add_argument("--apply", type=float, default=1.5, help="%% of households with an application on notice")
    parser.add_argument("--orders", type=int, default=5, help="store orders to expire per township")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warm-facts", action="store_true",
                        help="build last night's cockpit facts first (tonight's build is then incremental)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    os.environ.setdefault("JIFEN_REDIS_URL", "redis://127.0.0.1:6379/15")

    database = Database(args.database_url, "county")
    copy = None
    try:
        app = make_app(database.url)
        size = setup(app, database, args)
        with app.app_context():
            from jifen.platform.db import db
            db.engine.dispose()
        copy = Database(args.database_url, "county2", template=database.name)
        nights, checks = [], []
        for workers, db_ in ((1, database), (args.workers, copy)):
            log(f"the night with {workers} worker(s)")
            n = night(db_.url, size["tenants"], size["day"], workers)
            nights.append(n)
            checks.append(check(db_.dsn, size["day"], size, n["runs"]))
        out = report(size, nights, checks)
        out["load_end"] = os.getloadavg()
        out["date"] = time.strftime("%Y-%m-%d %H:%M")
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2, default=str))
        return 0 if all(c["ok"] for c in checks) else 1
    finally:
        if args.keep:
            log(f"kept {database.name}" + (f" and {copy.name}" if copy else ""))
        else:
            database.drop()
            if copy:
                copy.drop()


if __name__ == "__main__":
    sys.exit(main())
