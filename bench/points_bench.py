#!/usr/bin/env python3
"""Points posting benchmark on PostgreSQL: the nightly job's posting path against bare SQL.

    .venv/bin/python bench/points_bench.py                        # N = 8,000, ~2 min
    .venv/bin/python bench/points_bench.py --n 20000 --json out.json
    .venv/bin/python bench/points_bench.py --profile              # also cProfile posting 2,000 items

What one run does (see bench/README.md, "Points posting"):
1. creates its own database on the server of --database-url (default
   postgresql+psycopg://postgres@127.0.0.1:5432/postgres, or JIFEN_BENCH_ADMIN_URL), runs the
   migrations through the app (as the tests do), builds the tests' world (two townships) and the
   points rulebook (tests/points_world.py), and bulk-inserts --households households in 官田村;
2. for each measured run, bulk-inserts applications of item A1 (award, no cap) standing on an open
   notice, spread over the households; the notice is closed just before the timer starts;
3. (a) service: `posting.post_ready` (chunks of 200, one commit each) in 1 process, then in 4
   processes (each its own app, started together on a barrier); (b) raw: per posting one
   transaction `INSERT INTO ledger_transactions` + `UPDATE household_balances`, committed each,
   through a bare psycopg connection, 1 and 4 processes over the same N; (c) `posting.nightly`
   closing one notice of 5,000 items, end to end;
4. prints postings/s and service/raw for 1 and 4 processes (target >= 0.5), drops the database.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import secrets
import signal
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


from bench.scratch import Database, log  # noqa: E402 - after the path is set


def make_app(url: str):
    from jifen import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True,
                       "SERVER_NAME": "jifen.test", "CREDENTIAL_CACHE": "local"})


def in_tenant(app, tenant_id):
    """An app context with the township in scope (a context manager pair, entered by the caller)."""
    from contextlib import ExitStack

    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant

    stack = ExitStack()
    stack.enter_context(app.app_context())
    stack.enter_context(tenant_scope(db.session.get(Tenant, tenant_id)))
    return stack


# --- setup -------------------------------------------------------------------------------------

def setup(app, households: int) -> dict:
    """The tests' world and points rulebook, then `households` households in 官田村 (bulk)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from jifen.platform.db import db, new_id
    from jifen.tenants.households.models import Household
    from jifen.tenants.rulebook.models import RuleItem
    from tests.conftest import make_world
    from tests.points_world import setup_points

    with app.app_context():
        upgrade()
        world = make_world()
        pw = setup_points(world)
    tenant_id = world.a.tenant_id
    with in_tenant(app, tenant_id):
        item = db.session.get(RuleItem, (tenant_id, pw.items["A1"]))
        ids = [new_id() for _ in range(households)]
        db.session.execute(insert(Household), [
            {"tenant_id": tenant_id, "id": h, "village_id": pw.village, "grid_node_id": world.a.grid[-1],
             "door_plate": f"{n + 10}号", "head_name": f"户主{n}"} for n, h in enumerate(ids)])
        db.session.commit()
        return {"tenant_id": tenant_id, "village": pw.village, "item_id": item.id, "version_id": item.version_id,
                "households": ids}


def standing_notice(app, env: dict, n: int, households: list | None = None) -> uuid.UUID:
    """`n` applications of A1 on a new open notice (closed by `close()` right before timing)."""
    from sqlalchemy import func, insert, select

    from jifen.platform import clock
    from jifen.platform.db import db, new_id
    from jifen.tenants.points.models import Application, Notice

    households = households or env["households"]
    with in_tenant(app, env["tenant_id"]):
        today = clock.today()
        number = (db.session.execute(select(func.max(Notice.number))).scalar_one() or 0) + 1
        notice = Notice(id=new_id(), village_id=env["village"], number=number, opens_on=today - timedelta(days=5),
                        closes_on=today - timedelta(days=1), status=Notice.OPEN,
                        public_token=secrets.token_urlsafe(16), item_count=n)
        db.session.add(notice)
        db.session.flush()
        for start in range(0, n, 5000):
            db.session.execute(insert(Application), [
                {"tenant_id": env["tenant_id"], "id": new_id(), "household_id": households[i % len(households)],
                 "village_id": env["village"], "item_id": env["item_id"], "item_code": "A1",
                 "version_id": env["version_id"], "points": 1 + i % 5, "occurred_on": today,
                 "description": "打扫公共区域", "origin": "self", "state": "on_notice",
                 "certified_by_names": "panel1、panel2", "notice_id": notice.id}
                for i in range(start, min(n, start + 5000))])
        db.session.commit()
        db.session.execute(db.text("ANALYZE applications"))
        db.session.commit()
        return notice.id


def close(app, env: dict, notice_id) -> None:
    from sqlalchemy import update

    from jifen.platform.db import db
    from jifen.tenants.points.models import Notice

    with in_tenant(app, env["tenant_id"]):
        db.session.execute(update(Notice).where(Notice.id == notice_id).values(status=Notice.CLOSED))
        db.session.commit()


# --- (a) the service path ----------------------------------------------------------------------

def _service_worker(url, tenant_id, barrier, out):
    app = make_app(url)
    from jifen.platform.roles.authz import Actor
    from jifen.tenants.points import posting

    with in_tenant(app, tenant_id):
        barrier.wait()
        out.put(posting.post_ready(Actor.system())["posted"])


def run_processes(target, args, procs: int) -> tuple[float, list]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args, barrier, out)) for _ in range(procs)]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = time.perf_counter()
    results = []
    while len(results) < procs:
        try:
            results.append(out.get(timeout=2))
        except queue.Empty:
            if any(w.exitcode not in (None, 0) for w in workers):
                raise RuntimeError("a worker failed (see its traceback above)") from None
    elapsed = time.perf_counter() - t0
    for w in workers:
        w.join()
    return elapsed, results


def service(app, env, db_url, n: int, procs: int) -> float:
    notice = standing_notice(app, env, n)
    close(app, env, notice)
    elapsed, posted = run_processes(_service_worker, (db_url, env["tenant_id"]), procs)
    assert sum(posted) == n, posted
    log(f"service, {procs} process(es): {n} postings in {elapsed:.2f} s")
    return n / elapsed


# --- (b) the raw baseline ----------------------------------------------------------------------

RAW_INSERT = """INSERT INTO ledger_transactions (tenant_id, id, source_kind, source_id, household_id, period, points,
    item_id, item_code, version_id, occurred_on, memo, certified_by, reason, created_by_name, created_at)
    VALUES (%s, %s, 'raw', %s, %s, %s, %s, %s, 'A1', %s, %s, '', '', '', '', now())"""
RAW_UPDATE = """UPDATE household_balances SET earned = earned + %s, available = available + %s, updated_at = now()
    WHERE tenant_id = %s AND household_id = %s AND period = %s"""


def _raw_worker(dsn, env, rows, barrier, out):
    import psycopg

    with psycopg.connect(dsn) as conn:
        barrier.wait()
        for household, points in rows:
            conn.execute(RAW_INSERT, (env["tenant_id"], uuid.uuid4(), uuid.uuid4(), household, env["period"], points,
                                      env["item_id"], env["version_id"], env["today"]))
            conn.execute(RAW_UPDATE, (points, points, env["tenant_id"], household, env["period"]))
            conn.commit()
    out.put(len(rows))


def raw(env, dsn, n: int, procs: int) -> float:
    rows = [(env["households"][i % len(env["households"])], 1 + i % 5) for i in range(n)]
    # each process its own households (as the service's workers each lock their own balance rows)
    index = {h: i for i, h in enumerate(env["households"])}
    per = [[r for r in rows if index[r[0]] % procs == p] for p in range(procs)]
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=_raw_worker, args=(dsn, env, part, barrier, out)) for part in per]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = time.perf_counter()
    done = sum(out.get() for _ in workers)
    elapsed = time.perf_counter() - t0
    for w in workers:
        w.join()
    assert done == n
    log(f"raw, {procs} process(es): {n} postings in {elapsed:.2f} s")
    return n / elapsed


# --- (c) one notice of 5,000 items, end to end --------------------------------------------------

def nightly_notice(app, env, items: int) -> float:
    from jifen.platform.db import db
    from jifen.platform.roles.authz import Actor
    from jifen.tenants.points import posting
    from jifen.tenants.points.models import Notice

    notice_id = standing_notice(app, env, items)
    with in_tenant(app, env["tenant_id"]):
        closes_on = db.session.get(Notice, (env["tenant_id"], notice_id)).closes_on
        db.session.commit()
        t0 = time.perf_counter()
        result = posting.nightly(Actor.system(), today=closes_on + timedelta(days=1))
        elapsed = time.perf_counter() - t0
    assert result["posted"] == items, result
    log(f"nightly: {result} in {elapsed:.2f} s")
    return elapsed


def profile_chunk(app, env) -> None:
    import cProfile
    import pstats

    from jifen.platform.roles.authz import Actor
    from jifen.tenants.points import posting

    notice = standing_notice(app, env, 2000)
    close(app, env, notice)
    with in_tenant(app, env["tenant_id"]):
        prof = cProfile.Profile()
        prof.enable()
        posting.post_ready(Actor.system())
        prof.disable()
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("JIFEN_BENCH_ADMIN_URL", DEFAULT_ADMIN))
    parser.add_argument("--n", type=int, default=8000, help="postings per measured run")
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--notice-items", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # drop the database on kill too
    database = Database(args.database_url, "points")
    try:
        from jifen.platform import clock
        from jifen.platform.db import db
        from jifen.tenants.points import ledger

        app = make_app(database.url)
        t0 = time.perf_counter()
        env = setup(app, args.households)
        with in_tenant(app, env["tenant_id"]):
            env["today"] = clock.today()
            env["period"] = ledger.period_of(env["today"])
            for h in env["households"]:  # the balance rows exist for both paths after the first run
                ledger.lock_balance(h, env["period"])
            db.session.commit()
        log(f"setup in {time.perf_counter() - t0:.1f} s")
        if args.profile:
            profile_chunk(app, env)
        rates = {}
        for procs in (1, 4):
            rates[("service", procs)] = service(app, env, database.url, args.n, procs)
            rates[("raw", procs)] = raw(env, database.dsn, args.n, procs)
        nightly = nightly_notice(app, env, args.notice_items)
        print(f"\nPoints posting, N = {args.n} per run, {args.households} households, PostgreSQL\n")
        print("| processes | service postings/s | raw postings/s | service/raw | target |")
        print("|---:|---:|---:|---:|---|")
        for procs in (1, 4):
            s, r = rates[("service", procs)], rates[("raw", procs)]
            print(f"| {procs} | {s:,.0f} | {r:,.0f} | {s / r:.2f} | {'met' if s / r >= 0.5 else 'missed'} |")
        print(f"\n(c) posting.nightly closing one notice of {args.notice_items:,} items: {nightly:.2f} s "
              f"({args.notice_items / nightly:,.0f} postings/s)")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "n": args.n, "households": args.households, "nightly_s": nightly,
                "rates": {f"{k}_{p}": v for (k, p), v in rates.items()}}, indent=2))
        return 0
    finally:
        database.drop()


if __name__ == "__main__":
    sys.exit(main())
