#!/usr/bin/env python3
"""Nightly ranking benchmark on PostgreSQL: the real job against the bare RANK() statement.

    .venv/bin/python bench/ranking_bench.py                      # 1,000,000 households, ~6 min
    .venv/bin/python bench/ranking_bench.py --households 100000 --villages 200 --json out.json
    .venv/bin/python bench/ranking_bench.py --explain             # also EXPLAIN ANALYZE the job's statement

What one run does (see bench/README.md, "Nightly ranking"):
1. creates its own database on the server of --database-url (default
   postgresql+psycopg://postgres@127.0.0.1:5432/postgres, or JIFEN_BENCH_ADMIN_URL), runs the
   migrations through the app and onboards one township;
2. writes, with INSERT … SELECT generate_series: --villages villages; per village a four-level grid
   (1 large > 3 medium > 3 small each > 3 micro each: 40 nodes; every 10th pair of villages shares
   one large node tied to no village); --households households spread over the micro nodes (4 %
   moved out); their balances for this year (97 % have a row; earned log-normal around 40 with a
   long tail, 6 % zero, 2 % negative: many ties) and for last year (ignored by the ranking);
   then ANALYZE;
3. takes a first night's snapshot (untimed: the measured nights then run with a previous snapshot
   in the table, as every night but the first does), and changes 30 % of the balances;
4. measures, alternating, --pairs times each (default 3):
   (a) bare: the same six RANK() OVER (PARTITION BY …) over the same tables (households ⋈ balances
       of the period ⋈ each household's grid branch), INSERT … SELECT into a plain table with no
       key or index (truncated before each run), committed — through bare psycopg;
   (b) job: `jifen.nightly_ranking` as a worker runs it — the Celery task (run_daily: claim the
       job row, replace the day's snapshot, retention, commit) in a fresh
       subprocess; timed inside around the task, and the subprocess's peak RSS (ru_maxrss, read
       by a small launcher process: Linux carries ru_maxrss across exec, so a child forked
       straight from this big process would report this process's size);
   (a) runs with the job's session settings (service.PG_SETTINGS: jit off);
5. prints job/bare of the median times (target <= 1.5) — and, less disturbed by whatever else the
   machine runs, of the CPU seconds the database backend (and for the job the worker) spent —
   the peak (target < 200 MB), the table's size per household, the time of the reads the pages
   make at this size, and drops the database.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


from bench.scratch import Database, log  # noqa: E402 - after the path is set


def make_app(url: str):
    from jifen import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "SERVER_NAME": "jifen.test"})


# --- setup -------------------------------------------------------------------------------------

def onboard(app) -> tuple:
    from flask_migrate import upgrade

    from jifen.platform.accounts.service import actor_for, create_operator
    from jifen.platform.db import db
    from jifen.platform.townships import service as townships
    from jifen.platform.townships.service import get_or_create_county

    with app.app_context():
        upgrade()
        op = create_operator(get_or_create_county("紫金县", "zijin"), "op", "运营员", "Bench-password-2026")
        db.session.flush()
        tenant, _admin, _ = townships.onboard(actor_for(op), {
            "slug": "bench", "name": "基准镇", "timezone": "Asia/Shanghai", "admin_username": "admin",
            "admin_display_name": "管理员"})
        db.session.commit()
        return tenant.id, tenant.slug


SURNAMES = "张王李赵刘陈杨黄吴周徐孙马朱胡郭何林罗高钟曾邱温叶赖廖邓"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰春梅金水福生德荣海"

GENERATE = [
    ("villages", """
INSERT INTO villages (tenant_id, id, name, code, sort_order, created_at)
SELECT %(t)s, gen_random_uuid(), '村' || i, 'v' || lpad(i::text, 5, '0'), i, now()
FROM generate_series(1, %(villages)s) AS i"""),
    ("village numbers", """
CREATE TEMP TABLE v AS
SELECT row_number() OVER (ORDER BY code) AS i, id FROM villages WHERE tenant_id = %(t)s"""),
    # large nodes: one per village, but villages 19 and 20, 39 and 40, … share one tied to no village
    ("large nodes", """
CREATE TEMP TABLE large AS
SELECT key, gen_random_uuid() AS id, shared, village_id FROM (
    SELECT DISTINCT CASE WHEN i %% 20 IN (19, 0) THEN 'x' || ((i - 1) / 20) ELSE 'v' || i END AS key,
           i %% 20 IN (19, 0) AS shared,
           CASE WHEN i %% 20 IN (19, 0) THEN NULL ELSE id END AS village_id
    FROM v) s"""),
    ("grid: large", """
INSERT INTO grid_nodes (tenant_id, id, parent_id, level, name, village_id, path, sort_order, created_at)
SELECT %(t)s, id, NULL, 1, '大网格' || key, village_id, '/' || id || '/', 0, now() FROM large"""),
    ("analyze", "ANALYZE grid_nodes"),  # else each row's foreign-key check scans the table (plan from empty)
    ("grid: medium", """
CREATE TEMP TABLE medium AS
SELECT v.i, m, gen_random_uuid() AS id, l.id AS parent, '/' || l.id || '/' AS ppath, v.id AS village_id
FROM v JOIN large l ON l.key = CASE WHEN v.i %% 20 IN (19, 0) THEN 'x' || ((v.i - 1) / 20) ELSE 'v' || v.i END
CROSS JOIN generate_series(0, 2) AS m"""),
    ("grid: medium rows", """
INSERT INTO grid_nodes (tenant_id, id, parent_id, level, name, village_id, path, sort_order, created_at)
SELECT %(t)s, id, parent, 2, '中网格' || m, village_id, ppath || id || '/', m, now() FROM medium"""),
    ("analyze", "ANALYZE grid_nodes"),
    ("grid: small", """
CREATE TEMP TABLE small AS
SELECT md.i, md.m * 3 + s AS s, gen_random_uuid() AS id, md.id AS parent, md.ppath || md.id || '/' AS ppath,
       md.village_id
FROM medium md CROSS JOIN generate_series(0, 2) AS s"""),
    ("grid: small rows", """
INSERT INTO grid_nodes (tenant_id, id, parent_id, level, name, village_id, path, sort_order, created_at)
SELECT %(t)s, id, parent, 3, '小网格' || s, village_id, ppath || id || '/', s, now() FROM small"""),
    ("analyze", "ANALYZE grid_nodes"),
    ("grid: micro", """
CREATE TEMP TABLE micro AS
SELECT sm.i, sm.s * 3 + u AS u, gen_random_uuid() AS id, sm.id AS parent, sm.ppath || sm.id || '/' AS ppath,
       sm.village_id
FROM small sm CROSS JOIN generate_series(0, 2) AS u"""),
    ("grid: micro rows", """
INSERT INTO grid_nodes (tenant_id, id, parent_id, level, name, village_id, path, sort_order, created_at)
SELECT %(t)s, id, parent, 4, '微网格' || u, village_id, ppath || id || '/', u, now() FROM micro"""),
    ("analyze", "ANALYZE grid_nodes"),
    ("micro index", "CREATE INDEX ON micro (i, u)"),
    ("households", """
INSERT INTO households (tenant_id, id, village_id, grid_node_id, door_plate, head_name, head_pinyin, head_initials,
                        status, note, created_at, updated_at)
SELECT %(t)s, gen_random_uuid(), mi.village_id, mi.id, (n / %(villages)s + 1) || '号',
       substr(%(surnames)s, 1 + (n * 7) %% length(%(surnames)s), 1) ||
       substr(%(given)s, 1 + (n * 13) %% length(%(given)s), 1) ||
       CASE WHEN n %% 3 = 0 THEN '' ELSE substr(%(given)s, 1 + (n * 31) %% length(%(given)s), 1) END,
       'h' || lpad(((n::bigint * 7919) %% 100000)::text, 5, '0'), '',
       CASE WHEN random() < 0.04 THEN 'moved_out' ELSE 'active' END, '', now(), now()
FROM generate_series(0, %(households)s - 1) AS n
JOIN micro mi ON mi.i = n %% %(villages)s + 1 AND mi.u = (n / %(villages)s) %% 27"""),
    ("analyze", "ANALYZE households"),
    # earned: 6 %% zero, 2 %% negative, else log-normal (median ~40, long tail); available below it
    ("balances this year", """
INSERT INTO household_balances (tenant_id, id, household_id, period, earned, available, updated_at)
SELECT %(t)s, gen_random_uuid(), id, %(period)s, earned, GREATEST(earned, 0) / 2, now() FROM (
    SELECT h.id, CASE WHEN r < 0.06 THEN 0
                      WHEN r < 0.08 THEN -1 - floor(random() * 20)::int
                      ELSE round(exp(3.7 + 0.75 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))::int
                 END AS earned
    FROM (SELECT id, random() AS r FROM households WHERE tenant_id = %(t)s) h
    WHERE random() < 0.97 OR r < 0.06) s"""),
    ("balances last year", """
INSERT INTO household_balances (tenant_id, id, household_id, period, earned, available, updated_at)
SELECT %(t)s, gen_random_uuid(), id, %(period)s - 1, (random() * 300)::int, 0, now()
FROM households WHERE tenant_id = %(t)s AND random() < 0.5"""),
]


def generate(dsn: str, tenant_id, args, period: int) -> None:
    import psycopg

    params = {"t": tenant_id, "villages": args.villages, "households": args.households, "period": period,
              "surnames": SURNAMES, "given": GIVEN}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET session_replication_role = replica")  # generated rows: skip the foreign-key triggers
        for label, sql in GENERATE:
            t0 = time.perf_counter()
            cur = conn.execute(sql, params)
            log(f"  {label}: {cur.rowcount if cur.rowcount >= 0 else ''} ({time.perf_counter() - t0:.1f} s)")
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def shuffle_balances(dsn: str, tenant_id, period: int) -> None:
    """A day's worth of change: 30 % of the households earn a little (or lose some)."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        cur = conn.execute("""UPDATE household_balances SET earned = earned + (random() * 12)::int - 2
                              WHERE tenant_id = %s AND period = %s AND random() < 0.3""", (tenant_id, period))
        log(f"  changed {cur.rowcount:,} balances")
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE household_balances")


# --- (a) the bare statement ----------------------------------------------------------------------

BARE_TABLE = """CREATE TABLE IF NOT EXISTS bare_ranks (
    household_id uuid, village_id uuid, grid1 uuid, grid2 uuid, grid3 uuid, grid4 uuid, earned int,
    rank_village int, rank_grid1 int, rank_grid2 int, rank_grid3 int, rank_grid4 int, rank_township int)"""


def bare_sql() -> str:
    """The job's ranking, bare: the same scopes and ranks over the same join, into a plain table."""
    from jifen.tenants.rankings.models import SCOPES
    from jifen.tenants.rankings.service import _rank
    from jifen.tenants.villages.models import LEVELS
    from jifen.tenants.villages.scopes import _level_id

    levels = ", ".join(f"{_level_id(k)} AS grid{k}" for k in LEVELS)
    ranks = ", ".join(f"{_rank(s)}" for s in SCOPES)
    return f"""
INSERT INTO bare_ranks
SELECT household_id, village_id, grid1, grid2, grid3, grid4, earned, {ranks}
FROM (
    SELECT h.id AS household_id, h.village_id, b.grid1, b.grid2, b.grid3, b.grid4, COALESCE(e.earned, 0) AS earned
    FROM households h
    LEFT JOIN household_balances e ON e.tenant_id = h.tenant_id AND e.household_id = h.id AND e.period = %(period)s
    LEFT JOIN (SELECT n.id AS node_id, {levels}
               FROM grid_nodes n
               LEFT JOIN grid_nodes p1 ON p1.tenant_id = n.tenant_id AND p1.id = n.parent_id
               LEFT JOIN grid_nodes p2 ON p2.tenant_id = n.tenant_id AND p2.id = p1.parent_id
               LEFT JOIN grid_nodes p3 ON p3.tenant_id = n.tenant_id AND p3.id = p2.parent_id
               WHERE n.tenant_id = %(t)s) b ON b.node_id = h.grid_node_id
    WHERE h.tenant_id = %(t)s AND h.status = 'active'
) base"""


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process on this machine has used: the PostgreSQL backend
    serving a connection (the bench runs beside the server). Less sensitive than wall time to
    what else the machine is doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare(dsn: str, tenant_id, period: int) -> tuple[float, float, int]:
    import psycopg

    from jifen.tenants.rankings.service import PG_SETTINGS

    sql = bare_sql()
    with psycopg.connect(dsn) as conn:
        conn.execute(BARE_TABLE)
        conn.execute("TRUNCATE bare_ranks")
        conn.commit()
        for name, value in PG_SETTINGS.items():  # the job's session settings (jit off), for a fair race
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        backend = conn.info.backend_pid
        cpu0, t0 = proc_cpu(backend), time.perf_counter()
        cur = conn.execute(sql, {"t": tenant_id, "period": period})
        conn.commit()
        elapsed, cpu = time.perf_counter() - t0, proc_cpu(backend) - cpu0
    log(f"bare: {cur.rowcount:,} rows in {elapsed:.2f} s (database CPU {cpu:.2f} s)")
    return elapsed, cpu, cur.rowcount


def check_same_ranks(dsn: str, tenant_id, day: date) -> int:
    """The job's ranks equal the bare statement's, row for row (run right after both, same data)."""
    import psycopg

    cols = "household_id, village_id, grid1, grid2, grid3, grid4, earned, rank_village, rank_grid1, rank_grid2, " \
           "rank_grid3, rank_grid4, rank_township"
    with psycopg.connect(dsn) as conn:
        diff = conn.execute(f"""SELECT count(*) FROM (
            (SELECT {cols} FROM bare_ranks EXCEPT SELECT {cols} FROM ranking_entries WHERE tenant_id = %(t)s AND taken_on = %(d)s)
            UNION ALL
            (SELECT {cols} FROM ranking_entries WHERE tenant_id = %(t)s AND taken_on = %(d)s EXCEPT SELECT {cols} FROM bare_ranks)
        ) x""", {"t": tenant_id, "d": day}).fetchone()[0]
    return diff


# --- (b) the job in a worker-like subprocess ------------------------------------------------------

def child(url: str, tenant_id: str, day: str) -> None:
    """What a worker process does for one delivery of the task: the app is up, the task runs."""
    import resource

    from sqlalchemy import text

    from jifen.platform.db import db

    app = make_app(url)
    with app.app_context():
        task = app.extensions["celery"].tasks["jifen.nightly_ranking"]
        backend = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()  # the pooled connection
        db.session.commit()
        own0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, t0 = proc_cpu(backend), time.perf_counter()
        result = task.apply(kwargs={"tenant_id": tenant_id, "local_date": day, "force": True}).get()
        elapsed, cpu = time.perf_counter() - t0, proc_cpu(backend) - cpu0
        same = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one() == backend
        own1 = resource.getrusage(resource.RUSAGE_SELF)
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
    worker_cpu = own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime
    print(json.dumps({"seconds": elapsed, "result": result, "vmhwm_mb": hwm / 1024,
                      "cpu": cpu + worker_cpu if same else None}))


# Linux keeps a process's ru_maxrss across exec, and a child forked from this (big) process starts
# at this process's size: a small launcher forks the job's process instead and reads its rusage.
LAUNCHER = """import json, os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
out = p.stdout.read()
_, status, usage = os.wait4(p.pid, 0)
sys.stdout.write(out.decode())
print(json.dumps({"maxrss_kb": usage.ru_maxrss, "exit": os.waitstatus_to_exitcode(status)}))
"""


def job(url: str, tenant_id, day: date) -> tuple[float, float | None, float, dict]:
    out = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, __file__, "--child", url, str(tenant_id),
                          day.isoformat()], stdout=subprocess.PIPE, cwd=str(ROOT), check=True).stdout
    lines = out.decode().strip().splitlines()
    usage = json.loads(lines[-1])
    if usage["exit"] != 0:
        raise RuntimeError(f"the job subprocess failed ({usage['exit']})")
    found = json.loads(lines[-2])
    peak_mb = usage["maxrss_kb"] / 1024  # kB on Linux
    cpu = found["cpu"]
    log(f"job {day}: {found['result'].get('households'):,} households in {found['seconds']:.2f} s "
        f"(database + worker CPU {cpu if cpu is None else round(cpu, 2)} s), peak {peak_mb:.0f} MB "
        f"(VmHWM {found['vmhwm_mb']:.0f} MB)")
    return found["seconds"], cpu, peak_mb, found["result"]


def copy_snapshot(dsn: str, tenant_id, source: date, target: date) -> None:
    """Copy a snapshot (its row and entries) to another date, untimed: an expired night for the
    timed job's retention to delete, as every night after the first week does."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        for table in ("ranking_snapshots", "ranking_entries"):
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                (table,))]
            picks = ", ".join("%(target)s" if c == "taken_on" else ("gen_random_uuid()" if c == "id" else c)
                              for c in cols)
            conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {picks} FROM {table} "
                         "WHERE tenant_id = %(t)s AND taken_on = %(source)s",
                         {"t": tenant_id, "source": source, "target": target})


def delete_snapshot(url: str, tenant_id, day: date) -> float:
    """What retention costs on a night it removes an expired daily snapshot (untimed by the job here)."""
    from sqlalchemy import delete

    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.rankings.models import RankingEntry, RankingSnapshot

    app = make_app(url)
    with app.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
        t0 = time.perf_counter()
        db.session.execute(delete(RankingEntry).where(RankingEntry.taken_on == day))
        db.session.execute(delete(RankingSnapshot).where(RankingSnapshot.taken_on == day))
        db.session.commit()
        elapsed = time.perf_counter() - t0
    log(f"deleting the snapshot of {day}: {elapsed:.2f} s")
    return elapsed


# --- reads and sizes ---------------------------------------------------------------------------

def sizes(dsn: str) -> dict:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("""SELECT pg_relation_size('ranking_entries'), pg_indexes_size('ranking_entries'),
                                     (SELECT count(*) FROM ranking_entries)""").fetchone()
    return {"table": row[0], "indexes": row[1], "rows": row[2]}


def reads(url: str, tenant_id) -> dict:
    """The reads of the pages (through the service, as a township admin would), best of 5, ms."""
    from sqlalchemy import select

    from jifen.platform.db import db
    from jifen.platform.roles.authz import Actor
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.households.models import Household
    from jifen.tenants.rankings import service
    from jifen.tenants.villages.models import GridNode, Village

    app = make_app(url)
    out = {}
    with app.test_request_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
        actor = Actor.system()
        village = db.session.execute(select(Village).order_by(Village.code).limit(1)).scalar_one()
        shared = db.session.execute(select(GridNode).where(GridNode.village_id.is_(None)).limit(1)).scalar_one()
        small = db.session.execute(select(GridNode).where(GridNode.level == 3).limit(1)).scalar_one()
        household = db.session.execute(select(Household).where(Household.status == "active").limit(1)).scalar_one()
        cases = {
            "village, page 1": lambda: service.village_ranking(actor, village.id, per_page=50),
            "village, page 10": lambda: service.village_ranking(actor, village.id, page=10, per_page=50),
            "small grid node, page 1": lambda: service.grid_ranking(actor, small.id, per_page=50),
            "large node spanning 2 villages, page 1": lambda: service.grid_ranking(actor, shared.id, per_page=50),
            "township, page 1": lambda: service.township_ranking(actor, per_page=50),
            "township, page 2,000": lambda: service.township_ranking(actor, page=2000, per_page=50),
            "a household's ranks (home panel)": lambda: service.household_ranks(actor, household.id),
        }
        for label, fn in cases.items():
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
                db.session.rollback()
            out[label] = best * 1000
    return out


def explain(dsn: str, tenant_id, day: date, period: int) -> None:
    import psycopg

    from jifen.tenants.rankings.service import PG_SETTINGS, rank_sql

    sql = rank_sql().replace(":tenant_id", "%(tenant_id)s").replace(":taken_on", "%(taken_on)s") \
        .replace(":period", "%(period)s").replace(":active", "'active'")
    with psycopg.connect(dsn) as conn:
        for name, value in PG_SETTINGS.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, WAL) " + sql, {
            "tenant_id": tenant_id, "taken_on": day + timedelta(days=30), "period": period}).fetchall()
        conn.rollback()
    print("\n".join(r[0] for r in plan), file=sys.stderr)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("JIFEN_BENCH_ADMIN_URL", DEFAULT_ADMIN))
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--villages", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=3, help="bare/job measurements, alternating")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="do not drop the database (prints its name)")
    parser.add_argument("--json")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # drop the database on kill too
    database = Database(args.database_url, "ranking")
    try:
        app = make_app(database.url)
        t0 = time.perf_counter()
        tenant_id, _slug = onboard(app)
        from jifen.platform import clock
        from jifen.platform.db import db
        from jifen.platform.townships.models import Tenant

        with app.app_context():
            today = clock.today(db.session.get(Tenant, tenant_id))
        period = today.year
        days = [today - timedelta(days=args.pairs - i) for i in range(args.pairs + 1)]
        if days[0].year != period:  # keep every snapshot in one period (movement is within a period)
            days = [date(period, 1, 1) + timedelta(days=i) for i in range(args.pairs + 1)]
        log(f"generating {args.households:,} households in {args.villages:,} villages")
        generate(database.dsn, tenant_id, args, period)
        log(f"setup in {time.perf_counter() - t0:.1f} s; the first night's snapshot (untimed)")
        job(database.url, tenant_id, days[0])
        shuffle_balances(database.dsn, tenant_id, period)
        if args.explain:
            explain(database.dsn, tenant_id, days[1], period)
        # each timed night's retention deletes one expired snapshot (a January night, kept only
        # while its month's last, the 31st, was not there yet), so the job is timed whole
        expiring = today.month > 1
        if expiring:
            copy_snapshot(database.dsn, tenant_id, days[0], date(period, 1, 31))
        load0 = os.getloadavg()
        bare_s, bare_cpu, job_s, job_cpu, peaks, rows = [], [], [], [], [], 0
        for i, day in enumerate(days[1:]):  # alternating, each job on a new night
            if expiring:
                copy_snapshot(database.dsn, tenant_id, days[0], date(period, 1, 1 + i))
            elapsed, cpu, rows = bare(database.dsn, tenant_id, period)
            bare_s.append(elapsed)
            bare_cpu.append(cpu)
            seconds, cpu, peak, result = job(database.url, tenant_id, day)
            assert result["households"] == rows, (result, rows)
            assert not expiring or result["removed"] == [date(period, 1, 1 + i).isoformat()], result
            job_s.append(seconds)
            job_cpu.append(cpu)
            peaks.append(peak)
        load1 = os.getloadavg()
        diff = check_same_ranks(database.dsn, tenant_id, days[-1])
        size = sizes(database.dsn)
        read_ms = reads(database.url, tenant_id)
        deleted_s = delete_snapshot(database.url, tenant_id, days[0])

        med = statistics.median
        ratio = med(job_s) / med(bare_s)
        cpu_ratio = med([c for c in job_cpu if c is not None]) / med(bare_cpu) if any(job_cpu) else None
        n = len(bare_s)

        def cells(values, fmt="{:.2f}"):
            return " | ".join("–" if v is None else fmt.format(v) for v in values)

        print(f"\nNightly ranking, {rows:,} active households of {args.households:,}, {args.villages:,} villages, "
              f"PostgreSQL; load average {load0[0]:.1f} before, {load1[0]:.1f} after the measured runs; "
              f"the job {'with' if expiring else 'WITHOUT (a January run)'} its retention deleting an expired "
              "snapshot each night\n")
        print("| | " + " | ".join(f"pair {i + 1}" for i in range(n)) + " | median |")
        print("|---|" + "---:|" * (n + 1))
        print(f"| (a) bare RANK() statement, s | {cells(bare_s)} | {med(bare_s):.2f} |")
        print(f"| (b) job end to end (retention delete included), s | {cells(job_s)} | {med(job_s):.2f} |")
        print(f"| job / bare (wall) | {cells([j / b for j, b in zip(job_s, bare_s, strict=True)])} | **{ratio:.2f}** "
              f"({'met' if ratio <= 1.5 else 'missed'}: <= 1.5) |")
        print(f"| (a) database CPU, s | {cells(bare_cpu)} | {med(bare_cpu):.2f} |")
        print(f"| (b) database + worker CPU, s | {cells(job_cpu)} | "
              f"{med([c for c in job_cpu if c is not None]):.2f} |" if any(job_cpu) else "| (b) CPU | – |")
        if cpu_ratio is not None:
            print(f"| job / bare (CPU) | {cells([j / b if j else None for j, b in zip(job_cpu, bare_cpu, strict=True)])}"
                  f" | {cpu_ratio:.2f} |")
        print(f"| worker peak RSS, MB | {cells(peaks, '{:.0f}')} | **{max(peaks):.0f}** "
              f"({'met' if max(peaks) < 200 else 'missed'}: < 200) |")
        print(f"\nranks differing between job and bare: {diff} rows")
        per = (size["table"] + size["indexes"]) / max(1, size["rows"])
        print(f"ranking_entries: {size['rows']:,} rows ({len(days)} snapshots), table {size['table'] / 2**20:.0f} MB + "
              f"indexes {size['indexes'] / 2**20:.0f} MB = {per:.0f} bytes per household per snapshot")
        print(f"retention, deleting one expired snapshot ({rows:,} rows): {deleted_s:.2f} s")
        print("\n| read (as the pages do, best of 5) | ms |\n|---|---:|")
        for label, ms in read_ms.items():
            print(f"| {label} | {ms:.1f} |")
        if args.json:
            Path(args.json).write_text(json.dumps({"bare_s": bare_s, "job_s": job_s, "bare_cpu": bare_cpu,
                                                   "job_cpu": job_cpu, "peak_mb": peaks, "ratio": ratio,
                                                   "rows": rows, "size": size, "reads_ms": read_ms,
                                                   "delete_snapshot_s": deleted_s}, indent=2))
        return 0 if diff == 0 else 1
    finally:
        if args.keep:
            log(f"kept database {database.name}")
        else:
            database.drop()


if __name__ == "__main__":
    sys.exit(main())
