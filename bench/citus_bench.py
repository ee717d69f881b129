#!/usr/bin/env python3
"""Jifen on the local 3-node Citus cluster beside single-node PostgreSQL, in the same run.

    JIFEN_CITUS_DIR=/tmp/jifen-citus JIFEN_CITUS_PORT=5441 scripts/citus-cluster start
    .venv/bin/python bench/citus_bench.py --steps 5,10,20 --households 2000      # see bench/README.md
    .venv/bin/python bench/citus_bench.py --steps 2 --households 300 --pages 0    # develop

Why: issue 16 asks what Citus costs on one machine (the cluster is not expected to be faster here)
and whether that overhead stays flat as townships are added. Every figure is taken on both back-ends
in the same run, with a raw baseline of the same work on each, so a ratio is not the machine's mood.

What one run does (bench/README.md, "Citus beside single-node PostgreSQL"):
1. two databases, `citus_bench_single_…` on --single-url and `citus_bench_cluster_…` on every node
   of the cluster (`scripts/citus-cluster createdb`, with this process's JIFEN_CITUS_DIR/_PORT);
   migrations through the app on both, then `citus.distribute.init` on the cluster's BEFORE any
   township (distributing loaded tables would copy every row); the cluster's job workers and
   servers run with JIFEN_CITUS=1 (the fan-out watch in its `log` mode: its cost is counted);
2. per step of --steps (e.g. 5,10,20: the database grows to 5, then 10, then 20 townships), the
   townships added in that step onboarded and generated with county_night_bench's generator, then
   tonight's work for them (notices, applications, store orders), with --warm-facts last night's
   cockpit facts (untimed), VACUUM ANALYZE — on single-node PostgreSQL; then the same rows copied
   into the cluster with COPY (the loaded data are identical; the cluster's township ids are the
   single-node ones, so they are not placed by `placement.new_tenant_id` but spread by hash);
3. the night of the step's new townships, on each back-end in turn: every daily job and the
   delivery pass, one worker process, county_night_bench's queue and worker (the jobs of the
   earlier steps' townships are done for tonight and are not run again); checks every job run is
   `done` with no problems and postings = applications;
4. the raw baseline of the same step: ranking_bench's bare ranking statement (the job's windows
   over the same join) for each new township, into a table distributed by tenant_id and
   colocated on the cluster (a plain one on PostgreSQL), as the job writes `ranking_entries`;
5. after the last step: a single-shard point read through psycopg (a prepared `SELECT … FROM
   households WHERE tenant_id = $1 AND id = $2`, random ids of the first township) against
   `SELECT 1` on the same connection (the round trip's floor), per statement, on each back-end;
6. unless --pages 0: signed-in page throughput of the first township under gunicorn + wrk
   (http_bench's servers, targets and load; 16 connections) and the bare ORM get of the same run
   on each back-end;
7. prints the tables (cluster / single for each figure, and for its baseline) and drops the
   databases (--keep keeps them).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import county_night_bench as night_bench  # noqa: E402 - after the path is set
from bench.scratch import log  # noqa: E402

SINGLE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLUSTER_SCRIPT = ROOT / "scripts" / "citus-cluster"


# --- the two back-ends -----------------------------------------------------------------------------

class Backend:
    """One database for the run: `name`, `dsn` (psycopg), `url` (SQLAlchemy), `citus`."""

    citus = False

    def __init__(self, label: str):
        self.label = label
        self.name = f"citus_bench_{label}_{os.getpid()}_{secrets.token_hex(2)}"


class Single(Backend):
    def __init__(self, admin_url: str):
        import psycopg
        from sqlalchemy.engine import make_url

        super().__init__("single")
        base = make_url(admin_url)
        self.admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.dsn = base.set(drivername="postgresql", database=self.name).render_as_string(hide_password=False)
        self.url = base.set(drivername="postgresql+psycopg", database=self.name).render_as_string(hide_password=False)
        log(f"created {self.name} on single-node PostgreSQL")

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        log(f"dropped {self.name}")


class Cluster(Backend):
    citus = True

    def __init__(self):
        super().__init__("cluster")
        self.dir = Path(os.environ.get("JIFEN_CITUS_DIR", "/tmp/jifen-citus"))
        self.port = int(os.environ.get("JIFEN_CITUS_PORT", "5441"))
        out = subprocess.run(["bash", str(CLUSTER_SCRIPT), "createdb", self.name], check=True, capture_output=True,
                             text=True, cwd=ROOT).stdout.strip().splitlines()[-1]
        self.url = out
        self.dsn = out.replace("postgresql+psycopg://", "postgresql://")
        log(f"created {self.name} on the Citus cluster ({self.dir}, coordinator :{self.port})")

    def ports(self) -> list[int]:
        return [int((d / "port").read_text()) for d in sorted(self.dir.glob("node*")) if (d / "port").exists()]

    def drop(self) -> None:
        import psycopg

        for port in self.ports():  # every node has its own copy of the database (createdb made them)
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        log(f"dropped {self.name} on every node")


def make_app(backend: Backend, secret: str):
    from jifen import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": backend.url, "SECRET_KEY": secret, "SERVER_NAME": "jifen.test",
                       "CITUS": backend.citus})


def migrate(app, backend: Backend) -> dict:
    """Migrations, then (cluster) citus-init before any row is written; the operator who onboards
    (on single-node PostgreSQL, where the townships are made)."""
    from flask_migrate import upgrade

    from jifen.platform.accounts.service import create_operator
    from jifen.platform.citus import distribute
    from jifen.platform.db import db
    from jifen.platform.townships.service import get_or_create_county

    t0 = time.perf_counter()
    with app.app_context():
        upgrade()
        if backend.citus:
            with db.engine.begin() as conn:
                log(f"citus-init: {distribute.init(conn)}")
        if not backend.citus:  # the cluster's county and operator are copied in with the townships
            create_operator(get_or_create_county("紫金县", "zijin"), "op", "运营员", "Bench-password-2026")
            db.session.commit()
        db.session.remove()
    return {"migrate_s": time.perf_counter() - t0}


# --- one step: townships added, generated, their night run -----------------------------------------

def add_townships(app, backend: Backend, first: int, count: int, args) -> dict:
    """Onboard townships first..first+count-1 through the service and generate them as
    county_night_bench does (its generator, its tonight's work), on single-node PostgreSQL."""
    from sqlalchemy import select, text

    from jifen.platform.accounts.models import Operator
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db

    t0 = time.perf_counter()
    with app.app_context():
        op = actor_for(db.session.execute(select(Operator)).scalars().first())
        tenants, day = night_bench.onboard(op, range(first, first + count))
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    start = day.replace(month=1, day=1)
    night_bench.generate(backend.dsn, tenants, args, start, (day - start).days)
    work = night_bench.tonight(app, backend.dsn, tenants, day, args)
    night_bench.vacuum(backend.dsn)
    if args.warm_facts:  # last night's cockpit facts (untimed; copied to the cluster with the rest)
        night_bench.warm_facts(app, tenants, day)
        night_bench.vacuum(backend.dsn)
    with app.app_context():
        db.engine.dispose()
    load_s = time.perf_counter() - t0
    log(f"{backend.label}: {count} townships onboarded and generated ({load_s:.0f} s)")
    return {"tenants": tenants, "day": day, "load_s": load_s, **work, **counts(backend.dsn, tenants)}


def copy_townships(app, source: Backend, target: Backend, size: dict) -> dict:
    """The same rows on the cluster: every tenant table's rows of the step's townships copied with
    COPY (binary) from the single-node database into the distributed tables (Citus routes each row
    to its shard), the reference tables' new rows (tenants, the county, the operator) through a
    temporary table and INSERT … ON CONFLICT DO NOTHING, committed first. In the schema's dependency
    order, so the foreign keys (checked on the workers) hold at every statement."""
    import psycopg

    from jifen.platform.citus import distribute
    from jifen.platform.db import db

    with app.app_context():
        kinds = distribute.expected()
        order = [t.name for t in db.metadata.sorted_tables]
    tenants = list(size["tenants"])
    t0, rows = time.perf_counter(), 0
    # reference tables first, committed: a transaction that modified a reference table may not then
    # write distributed tables keyed to it in parallel (Citus refuses, or goes sequential)
    order = [t for t in order if kinds[t] == "reference"] + [None] + [t for t in order if kinds[t] == "distributed"]
    with psycopg.connect(source.dsn) as src, psycopg.connect(target.dsn) as dst:
        for table in order:
            if table is None:
                dst.commit()
                continue
            cols = ", ".join(f'"{c}"' for c, in src.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
                "ORDER BY attnum", (table,)))
            if kinds[table] == "distributed":
                where, params, into = "WHERE tenant_id = ANY(%s)", (tenants,), f'"{table}" ({cols})'
            else:
                dst.execute(f'CREATE TEMP TABLE "copy_{table}" (LIKE "{table}") ON COMMIT DROP')
                where, params, into = "", (), f'"copy_{table}" ({cols})'
            with src.cursor().copy(f'COPY (SELECT {cols} FROM "{table}" {where}) TO STDOUT (FORMAT binary)',
                                   params) as out, dst.cursor().copy(f"COPY {into} FROM STDIN (FORMAT binary)") as inp:
                for block in out:
                    inp.write(block)
            if kinds[table] == "reference":
                n = dst.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM "copy_{table}" '
                                "ON CONFLICT DO NOTHING").rowcount
            else:
                n = dst.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id = ANY(%s)', (tenants,)).fetchone()[0]
            rows += max(n, 0)
        dst.commit()
    night_bench.vacuum(target.dsn)
    load_s = time.perf_counter() - t0
    log(f"{target.label}: {len(tenants)} townships copied in ({rows:,} rows, {load_s:.0f} s)")
    return size | {"load_s": load_s, "rows_copied": rows, **counts(target.dsn, tenants)}


def counts(dsn: str, tenants: list) -> dict:
    import psycopg

    with psycopg.connect(dsn) as conn:
        one = lambda t: conn.execute(f"SELECT count(*) FROM {t} WHERE tenant_id = ANY(%s)",  # noqa: E731
                                     (list(tenants),)).fetchone()[0]
        return {"households": one("households"), "transactions": one("ledger_transactions"),
                "postings": one("ledger_postings")}


def run_night(backend: Backend, size: dict) -> dict:
    """The step's townships' night, one worker process (JIFEN_CITUS=1 in it for the cluster)."""
    saved = os.environ.get("JIFEN_CITUS")
    os.environ["JIFEN_CITUS"] = "1" if backend.citus else "0"
    try:
        n = night_bench.night(backend.url, size["tenants"], size["day"], 1)
    finally:
        if saved is None:
            os.environ.pop("JIFEN_CITUS", None)
        else:
            os.environ["JIFEN_CITUS"] = saved
    n["check"] = check(backend.dsn, size, n["runs"])
    n["kinds"] = night_bench.per_kind(n["runs"], size, size["applications"])
    n["total_s"] = sum(k["total_s"] for k in n["kinds"].values())
    return n


def check(dsn: str, size: dict, runs: list) -> dict:
    """The step's townships only: every run 'done', no problems, postings = applications, orders expired."""
    import psycopg

    t = list(size["tenants"])
    with psycopg.connect(dsn) as conn:
        status = dict(conn.execute("SELECT status, count(*) FROM job_runs WHERE local_date = %s "
                                   "AND tenant_id = ANY(%s) GROUP BY status", (size["day"], t)).fetchall())
        posted = conn.execute("SELECT count(*) FROM applications WHERE state = 'posted' AND tenant_id = ANY(%s)",
                              (t,)).fetchone()[0]
        expired = conn.execute("SELECT count(*) FROM store_orders WHERE state = 'expired' AND tenant_id = ANY(%s)",
                               (t,)).fetchone()[0]
        problems = conn.execute("SELECT count(*) FROM job_runs WHERE local_date = %s AND tenant_id = ANY(%s) "
                                "AND COALESCE((result->>'problems')::int, 0) > 0", (size["day"], t)).fetchone()[0]
    daily = sum(1 for r in runs if r[1] != night_bench.DELIVER)
    ok = (status.get("done", 0) == daily and len(status) == 1 and posted == size["applications"]
          and expired == size["orders"] and problems == 0)
    return {"job_runs": status, "posted": posted, "applications": size["applications"], "expired": expired,
            "problems": problems, "ok": ok}


# --- the raw baselines -----------------------------------------------------------------------------

BARE_TABLE = """CREATE TABLE IF NOT EXISTS citus_bench_ranks (
    tenant_id uuid NOT NULL, household_id uuid, village_id uuid, grid1 uuid, grid2 uuid, grid3 uuid, grid4 uuid,
    earned int, rank_village int, rank_grid1 int, rank_grid2 int, rank_grid3 int, rank_grid4 int,
    rank_township int)"""


def bare_ranking(backend: Backend, tenants: list, day) -> dict:
    """ranking_bench's bare statement per township (the job's windows and join), into a table that
    lives where the job's rows do: distributed and colocated on the cluster, plain on PostgreSQL.
    Returns the seconds per township and the rows written."""
    import psycopg

    from bench.ranking_bench import bare_sql
    from jifen.tenants.rankings.service import PG_SETTINGS

    sql = bare_sql().replace("INSERT INTO bare_ranks\nSELECT household_id", "INSERT INTO citus_bench_ranks\n"
                             "SELECT tenant_id, household_id", 1)
    sql = sql.replace("SELECT h.id AS household_id,", "SELECT h.tenant_id, h.id AS household_id,", 1)
    secs, rows = [], 0
    with psycopg.connect(backend.dsn) as conn:
        conn.execute(BARE_TABLE)
        if backend.citus and not conn.execute("SELECT 1 FROM pg_dist_partition WHERE logicalrelid = "
                                              "'citus_bench_ranks'::regclass").fetchone():
            conn.execute("SELECT create_distributed_table('citus_bench_ranks', 'tenant_id', colocate_with => 'users')")
        conn.commit()
        for name, value in PG_SETTINGS.items():  # the job's session settings (jit off)
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        for tenant_id in tenants:
            conn.execute("DELETE FROM citus_bench_ranks WHERE tenant_id = %s", (tenant_id,))
            conn.commit()
            t0 = time.perf_counter()
            cur = conn.execute(sql, {"t": tenant_id, "period": day.year})
            conn.commit()
            secs.append(time.perf_counter() - t0)
            rows += cur.rowcount
    return {"total_s": sum(secs), "median_s": statistics.median(secs), "rows": rows}


def point_reads(backend: Backend, tenant_id, n: int) -> dict:
    """Per-statement latency of a single-shard read by key, and of `SELECT 1` on the same connection."""
    import psycopg

    with psycopg.connect(backend.dsn, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM households WHERE tenant_id = %s", (tenant_id,))]
        rnd = random.Random(16)
        out = {}
        for label, sql, params in (
                ("select 1", "SELECT 1", lambda: ()),
                ("household by key", "SELECT id, village_id, grid_node_id, status, head_name FROM households "
                                     "WHERE tenant_id = %s AND id = %s", lambda: (tenant_id, rnd.choice(ids)))):
            for _ in range(50):  # warm: prepared after psycopg's 5th execution, caches filled
                conn.execute(sql, params(), prepare=True).fetchall()
            lat = []
            for _ in range(n):
                p = params()
                t0 = time.perf_counter()
                conn.execute(sql, p, prepare=True).fetchall()
                lat.append(time.perf_counter() - t0)
            lat.sort()
            out[label] = {"median_ms": statistics.median(lat) * 1e3, "p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1e3,
                          "n": n}
    return out


# --- pages -----------------------------------------------------------------------------------------

def pages(args, backend: Backend, app, secret: str, redis_url: str, logdir: Path, servers: list) -> list:
    """http_bench's signed-in targets for the first township and its bare ORM get, same run."""
    from bench import http_bench, township

    slug = "xz001"
    rows = township.sample(app, slug, 5000)
    township.grid_worker(app, rows["tenant_id"])
    creds = http_bench.sign_in(app, slug, rows, args.villagers)
    ns = Namespace(workers=None, threads=None, worker_connections=None, ratelimit_prefix=args.ratelimit_prefix,
                   target=args.target, ranking_pages=args.ranking_pages, warmup=args.warmup, samples=args.samples,
                   quiet_wait=args.quiet_wait, loadgen=args.loadgen, connections=args.connections,
                   duration=args.duration)
    extra = {"JIFEN_CITUS": "1"} if backend.citus else {}
    return http_bench.measure(ns, backend.name, backend.url, "sync", False, logdir, secret, redis_url, slug, rows,
                              creds, servers, extra_env=extra)


# --- figures ---------------------------------------------------------------------------------------

def ratio(a, b) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def report(steps: list, points: dict, page_results: dict) -> None:
    print("\nCitus (3 nodes, one machine) beside single-node PostgreSQL, the same run")
    print(f"\n{'step':>5} {'townships':>9} {'households':>10} | {'single s':>9} {'cluster s':>9} "
          f"{'per twp S':>9} {'per twp C':>9} {'C/S':>5} | {'bare S':>7} {'bare C':>7} {'C/S':>5} | "
          f"{'rank S':>7} {'rank C':>7} {'C/S':>5}  checks")
    for s in steps:
        sg, cl = s["single"], s["cluster"]
        n = len(sg["size"]["tenants"])
        rs = sg["night"]["kinds"].get("jifen.nightly_ranking", {}).get("total_s")
        rc = cl["night"]["kinds"].get("jifen.nightly_ranking", {}).get("total_s")
        ok = "OK" if sg["night"]["check"]["ok"] and cl["night"]["check"]["ok"] else "FAILED"
        print(f"{s['step']:>5} {s['in_db']:>4} (+{n:>2}) {sg['size']['households']:>10,} | "
              f"{sg['night']['total_s']:>9.2f} {cl['night']['total_s']:>9.2f} {sg['night']['total_s'] / n:>9.3f} "
              f"{cl['night']['total_s'] / n:>9.3f} {ratio(cl['night']['total_s'], sg['night']['total_s']):>5} | "
              f"{sg['bare']['total_s']:>7.2f} {cl['bare']['total_s']:>7.2f} "
              f"{ratio(cl['bare']['total_s'], sg['bare']['total_s']):>5} | {rs or 0:>7.2f} {rc or 0:>7.2f} "
              f"{ratio(rc, rs):>5}  {ok}")
    print("(seconds of all the step's new townships' jobs, one worker; bare = the bare ranking statement per "
          "township, the raw baseline; rank = the nightly_ranking job itself)")
    last = steps[-1]
    kinds = sorted(last["single"]["night"]["kinds"])
    print(f"\nper job, step {last['step']} ({len(last['single']['size']['tenants'])} townships), total s:")
    print(f"{'job':34} {'single':>8} {'cluster':>8} {'C/S':>5}")
    for k in kinds:
        a = last["single"]["night"]["kinds"][k]["total_s"]
        b = last["cluster"]["night"]["kinds"].get(k, {}).get("total_s", 0)
        print(f"{k:34} {a:>8.2f} {b:>8.2f} {ratio(b, a):>5}")
    print("\nload (generation) per step, s: " + "; ".join(
        f"step {s['step']}: single {s['single']['size']['load_s']:.0f}, cluster {s['cluster']['size']['load_s']:.0f}"
        for s in steps))
    print("\npoint read through psycopg (prepared; per statement, ms):")
    print(f"{'statement':20} {'single p50':>10} {'cluster p50':>11} {'C/S':>5} {'single p99':>10} {'cluster p99':>11}")
    for k in points["single"]:
        a, b = points["single"][k], points["cluster"][k]
        print(f"{k:20} {a['median_ms']:>10.3f} {b['median_ms']:>11.3f} {ratio(b['median_ms'], a['median_ms']):>5} "
              f"{a['p99_ms']:>10.3f} {b['p99_ms']:>11.3f}")
    if page_results:
        print("\nsigned-in pages (sync workers, 16 connections; medians; real/base = the same run's bare ORM get):")
        print(f"{'target':14} {'single r/s':>10} {'cluster r/s':>11} {'C/S':>5} {'S real/base':>11} "
              f"{'C real/base':>11} {'S p99':>7} {'C p99':>7} {'other':>5}")
        for a, b in zip(page_results["single"], page_results["cluster"], strict=True):
            other = max(x for x in (a.other_cpu, b.other_cpu, 0) if x is not None)
            print(f"{a.target:14} {a.rps:>10.1f} {b.rps:>11.1f} {ratio(b.rps, a.rps):>5} "
                  f"{(f'{a.ratio:.2f}' if a.ratio else '-'):>11} {(f'{b.ratio:.2f}' if b.ratio else '-'):>11} "
                  f"{a.p99_ms:>7.1f} {b.p99_ms:>7.1f} {other:>5.0%}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--single-url", default=os.environ.get("JIFEN_BENCH_ADMIN_URL", SINGLE))
    p.add_argument("--steps", default="5,10,20", help="townships in the database after each step (5,10,20)")
    p.add_argument("--households", type=int, default=2000, help="per township")
    p.add_argument("--villages", type=int, default=8)
    p.add_argument("--per-household", type=int, default=10, help="ledger entries per household this year")
    p.add_argument("--apply", type=float, default=1.5, help="%% of households with an application on notice")
    p.add_argument("--orders", type=int, default=5, help="store orders to expire per township")
    p.add_argument("--warm-facts", action="store_true",
                   help="build last night's cockpit facts first, so tonight's build is incremental (a steady night)")
    p.add_argument("--point-reads", type=int, default=2000)
    p.add_argument("--pages", type=int, default=1, help="0: skip the page throughput")
    p.add_argument("--target", action="append", help="http_bench target (repeatable; default: a few)")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--duration", type=float, default=8)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--villagers", type=int, default=200)
    p.add_argument("--ranking-pages", type=int, default=10)
    p.add_argument("--quiet-wait", type=float, default=0)
    p.add_argument("--loadgen", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    args.target = args.target or ["household", "village", "ranking", "villager-home", "api-household"]
    args.ratelimit_prefix = f"citus-bench-{os.getpid()}"
    redis_url = os.environ.get("JIFEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    os.environ.setdefault("JIFEN_REDIS_URL", redis_url)
    steps_at = [int(x) for x in args.steps.split(",")]
    secret = secrets.token_urlsafe(32)
    backends, servers, logdir = [], [], Path(tempfile.mkdtemp(prefix="citus-bench-"))
    t_run, load0 = time.perf_counter(), os.getloadavg()
    try:
        backends = [Single(args.single_url), Cluster()]
        apps = {b.label: make_app(b, secret) for b in backends}
        for b in backends:
            migrate(apps[b.label], b)
        steps, have = [], 0
        for i, upto in enumerate(steps_at, 1):
            step = {"step": i, "in_db": upto}
            single, cluster = backends
            step["single"] = {"size": add_townships(apps["single"], single, have + 1, upto - have, args)}
            step["cluster"] = {"size": copy_townships(apps["cluster"], single, cluster, step["single"]["size"])}
            for b in backends:
                log(f"{b.label}: the night of {upto - have} townships (step {i})")
                step[b.label]["night"] = run_night(b, step[b.label]["size"])
                step[b.label]["bare"] = bare_ranking(b, step[b.label]["size"]["tenants"], step[b.label]["size"]["day"])
                log(f"{b.label}: night {step[b.label]['night']['total_s']:.1f} s, bare ranking "
                    f"{step[b.label]['bare']['total_s']:.2f} s, check {step[b.label]['night']['check']}")
            steps.append(step)
            have = upto
        first = {b.label: steps[0][b.label]["size"]["tenants"][0] for b in backends}
        points = {b.label: point_reads(b, first[b.label], args.point_reads) for b in backends}
        page_results = {}
        if args.pages:
            for b in backends:
                log(f"{b.label}: pages")
                page_results[b.label] = pages(args, b, apps[b.label], secret, redis_url, logdir, servers)
        report(steps, points, page_results)
        load1 = os.getloadavg()
        print(f"\nrun {time.perf_counter() - t_run:.0f} s; load average before {'/'.join(f'{x:.2f}' for x in load0)}, "
              f"after {'/'.join(f'{x:.2f}' for x in load1)}; nights' load: " + "; ".join(
                  f"{b.label} step {s['step']} {s[b.label]['night']['load_before'][0]:.2f}->"
                  f"{s[b.label]['night']['load_after'][0]:.2f}" for s in steps for b in backends))
        if args.json:
            out = {"steps": [{k: ({kk: vv for kk, vv in v.items() if kk != "night"} | {"night": {
                kk: vv for kk, vv in v["night"].items() if kk != "runs"}} if isinstance(v, dict) else v)
                for k, v in s.items()} for s in steps], "points": points,
                "pages": {k: [r.__dict__ for r in v] for k, v in page_results.items()},
                "load": [load0, load1], "args": vars(args)}
            Path(args.json).write_text(json.dumps(out, indent=2, default=str))
        return 0 if all(s[b.label]["night"]["check"]["ok"] for s in steps for b in backends) else 1
    finally:
        from bench.http_bench import forget_ratelimits

        for s in reversed(servers):
            s.stop()
        forget_ratelimits(redis_url, args.ratelimit_prefix)
        shutil.rmtree(logdir, ignore_errors=True)
        for b in backends:
            if args.keep:
                log(f"kept {b.name} ({b.dsn})")
            else:
                b.drop()


if __name__ == "__main__":
    sys.exit(main())
