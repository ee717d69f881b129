#!/usr/bin/env python3
"""Points posting benchmark on PostgreSQL: the nightly job's posting path against bare SQL.

    .venv/bin/python bench/points_bench.py                        # N = 8,000, 3 samples, ~5-15 min
    .venv/bin/python bench/points_bench.py --n 20000 --json out.json
    .venv/bin/python bench/points_bench.py --profile              # also cProfile posting 2,000 items

What one run does (see bench/README.md, "Points posting"):
1. creates its own database on the server of --database-url (default
   postgresql+psycopg://postgres@127.0.0.1:5432/postgres, or JIFEN_BENCH_ADMIN_URL), runs the
   migrations through the app (as the tests do), builds the tests' world (two townships) and the
   points rulebook (tests/points_world.py), and bulk-inserts --households households in 官田村;
2. for each measured run, bulk-inserts applications of item A1 (award, no cap) standing on an open
   notice, spread over the households; the notice is closed just before the timer starts;
3. (a) service: `posting.post_ready` (chunks of 500, one commit each) in 1 process, then in 4
   processes (each its own app, started together on a barrier); (b) raw: bare psycopg doing the
   same work in the same chunks of 500 (same locks in the same order, the same rows in every table,
   audit entries hashed the same way; COPY and UPDATE … FROM unnest), 1 and 4 processes; each run's
   rows per table and balance moves are checked; (c) `posting.nightly` closing one notice of 5,000
   items, end to end;
4. prints the medians of --samples runs and service/raw for 1 and 4 processes (target >= 0.5),
   checks the ledger and the audit chain, drops the database.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import secrets
import signal
import statistics
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
# The same rows the service writes, the same locks in the same order, one transaction per chunk of
# 500: applications (SKIP LOCKED), balance rows in household order, the ledger transactions and
# their two legs (COPY), balances and applications (UPDATE … FROM unnest), history rows (COPY),
# the audit head last with entries hashed as the service hashes them (COPY), notifications (COPY).

RAW_PICK = """SELECT a.id, a.household_id, a.points, a.occurred_on, a.item_id, a.version_id, a.description,
    a.certified_by_names FROM applications a
    WHERE a.tenant_id = %(t)s AND a.state = 'on_notice'
      AND a.notice_id IN (SELECT id FROM notices WHERE tenant_id = %(t)s AND status = 'closed')
    ORDER BY a.household_id, a.id LIMIT %(n)s FOR UPDATE OF a SKIP LOCKED"""
RAW_BALANCES = """SELECT household_id, earned, available FROM household_balances
    WHERE tenant_id = %s AND household_id = ANY(%s) AND period = %s ORDER BY household_id, period FOR UPDATE"""
RAW_SET_BALANCES = """UPDATE household_balances b SET earned = v.e, available = v.a, updated_at = %s
    FROM unnest(%s::uuid[], %s::int[], %s::int[]) AS v(h, e, a)
    WHERE b.tenant_id = %s AND b.period = %s AND b.household_id = v.h"""
RAW_SET_APPS = """UPDATE applications a SET state = 'posted', posted_points = v.p, capped_points = 0,
    posted_at = %s, updated_at = %s FROM unnest(%s::uuid[], %s::int[]) AS v(id, p)
    WHERE a.tenant_id = %s AND a.id = v.id"""
TX_COLS = ("tenant_id", "id", "source_kind", "source_id", "household_id", "period", "points", "item_id", "item_code",
           "version_id", "occurred_on", "memo", "certified_by", "reason", "created_by", "created_by_name",
           "created_at")
LEG_COLS = ("tenant_id", "id", "transaction_id", "account", "household_id", "period", "available", "earned")
STEP_COLS = ("tenant_id", "id", "application_id", "step", "from_state", "to_state", "points", "reason", "actor_id",
             "actor_name", "created_at")
AUDIT_COLS = ("tenant_id", "id", "seq", "created_at", "actor_kind", "actor_id", "actor_name", "action",
              "object_type", "object_id", "before", "after", "request_id", "prev_hash", "entry_hash")
NOTE_COLS = ("tenant_id", "id", "household_id", "kind", "params", "link", "dedupe_key", "delivery", "created_at")


def _copy(cur, table: str, cols: tuple, rows: list) -> None:
    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _raw_chunk(conn, env: dict) -> int:
    """One chunk, one transaction; returns how many it posted (0: nothing left)."""
    from types import SimpleNamespace

    from jifen.platform import clock
    from jifen.platform.audit.service import entry_hash

    t, period, title = env["tenant_id"], env["period"], env["title_zh"]
    with conn.transaction(), conn.cursor() as cur:
        apps = cur.execute(RAW_PICK, {"t": t, "n": 500}).fetchall()
        if not apps:
            return 0
        households = sorted({a[1] for a in apps}, key=str)
        bal = {h: [e, v] for h, e, v in cur.execute(RAW_BALANCES, (t, households, period))}
        now = clock.now()
        txs, legs, steps, notes, audits = [], [], [], [], []
        for app_id, household, points, occurred_on, item_id, version_id, description, certified in apps:
            tx_id, step_id = uuid.uuid4(), uuid.uuid4()
            txs.append((t, tx_id, "application", app_id, household, period, points, item_id, "A1", version_id,
                        occurred_on, f"{title}：{description}"[:300], certified[:300], "", None, "system", now))
            legs.append((t, uuid.uuid4(), tx_id, "household", household, period, points, points))
            legs.append((t, uuid.uuid4(), tx_id, "issued", None, period, -points, 0))
            bal[household][0] += points
            bal[household][1] += points
            steps.append((t, step_id, app_id, "post", "on_notice", "posted", points, "", None, "system", now))
            audits.append((app_id, points))
            params = {"points": points, "reason": "", "item": title, "capped": 0}
            notes.append((t, uuid.uuid4(), household, "posted", json.dumps(params, ensure_ascii=False),
                          f"applications/{app_id}", f"app:{app_id}:{step_id}", "pending", now))
        _copy(cur, "ledger_transactions", TX_COLS, txs)
        _copy(cur, "ledger_postings", LEG_COLS, legs)
        cur.execute(RAW_SET_BALANCES, (now, households, [bal[h][0] for h in households],
                                       [bal[h][1] for h in households], t, period))
        cur.execute(RAW_SET_APPS, (now, now, [a[0] for a in apps], [a[2] for a in apps], t))
        _copy(cur, "application_steps", STEP_COLS, steps)
        seq, prev = cur.execute("SELECT seq, entry_hash FROM audit_heads WHERE tenant_id = %s FOR UPDATE",
                                (t,)).fetchone()
        rows = []
        for app_id, points in audits:
            seq += 1
            e = SimpleNamespace(tenant_id=t, seq=seq, created_at=clock.now().replace(microsecond=0),
                                actor_kind="system", actor_id=None, actor_name="system", action="application.post",
                                object_type="applications", object_id=str(app_id), before={"state": "on_notice"},
                                after={"state": "posted", "points": points, "reason": None}, request_id=None)
            h = entry_hash(prev, e)
            rows.append((t, uuid.uuid4(), seq, e.created_at, "system", None, "system", e.action, e.object_type,
                         e.object_id, json.dumps(e.before), json.dumps(e.after), None, prev, h))
            prev = h
        _copy(cur, "audit_entries", AUDIT_COLS, rows)
        cur.execute("UPDATE audit_heads SET seq = %s, entry_hash = %s WHERE tenant_id = %s", (seq, prev, t))
        _copy(cur, "notifications", NOTE_COLS, notes)
        return len(apps)


def _raw_worker(dsn, env, barrier, out):
    import psycopg

    import jifen.platform.audit.service  # noqa: F401 - imported before the timer, as the service's workers do

    with psycopg.connect(dsn) as conn:
        barrier.wait()
        posted = 0
        while n := _raw_chunk(conn, env):
            posted += n
    out.put(posted)


def raw(app, env, dsn, n: int, procs: int) -> float:
    notice = standing_notice(app, env, n)
    close(app, env, notice)
    elapsed, posted = run_processes(_raw_worker, (dsn, env), procs)
    assert sum(posted) == n, posted
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


TABLES = ("ledger_transactions", "ledger_postings", "household_balances", "applications", "application_steps",
          "audit_entries", "notifications")


def snapshot(dsn, env) -> tuple[dict, dict]:
    """(rows per written table, {household: (earned, available)}) of the township, for the checks."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t} WHERE tenant_id = %s", (env["tenant_id"],)).fetchone()[0]
                  for t in TABLES}
        counts["posted applications"] = conn.execute(
            "SELECT count(*) FROM applications WHERE tenant_id = %s AND state = 'posted'",
            (env["tenant_id"],)).fetchone()[0]
        bals = {h: (e, a) for h, e, a in conn.execute(
            "SELECT household_id, earned, available FROM household_balances WHERE tenant_id = %s AND period = %s",
            (env["tenant_id"], env["period"]))}
    return counts, bals


def measured(side, app, env, database, n: int, procs: int) -> tuple[float, dict, dict]:
    """Run one side; returns (postings/s, rows it added per table, balance moves per household)."""
    c0, b0 = snapshot(database.dsn, env)
    rate = service(app, env, database.url, n, procs) if side == "service" else raw(app, env, database.dsn, n, procs)
    c1, b1 = snapshot(database.dsn, env)
    return (rate, {t: c1[t] - c0[t] for t in c0},
            {h: (b1[h][0] - b0[h][0], b1[h][1] - b0[h][1]) for h in b1 if b1[h] != b0.get(h)})


def expected_moves(env, n: int) -> dict:
    """What N postings of `standing_notice` must move: points 1 + i % 5 to household i mod H."""
    moves: dict = {}
    for i in range(n):
        h = env["households"][i % len(env["households"])]
        moves[h] = moves.get(h, 0) + 1 + i % 5
    return {h: (p, p) for h, p in moves.items()}


def final_checks(app, env) -> None:
    from jifen.platform.audit.service import verify_chain
    from jifen.tenants.points import ledger

    with in_tenant(app, env["tenant_id"]):
        report = ledger.recompute()
        assert not report["differences"] and not report["unbalanced"], report
        chain = verify_chain()
        assert chain.ok, chain
    log(f"checks: cached balances equal the postings' sums ({report['balances']}), audit chain of "
        f"{chain.entries} entries verifies")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("JIFEN_BENCH_ADMIN_URL", DEFAULT_ADMIN))
    parser.add_argument("--n", type=int, default=8000, help="postings per measured run")
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=3, help="runs per side and process count (median)")
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
        from jifen.tenants.rulebook.models import RuleItem

        app = make_app(database.url)
        t0 = time.perf_counter()
        env = setup(app, args.households)
        with in_tenant(app, env["tenant_id"]):
            env["today"] = clock.today()
            env["period"] = ledger.period_of(env["today"])
            env["title_zh"] = db.session.get(RuleItem, (env["tenant_id"], env["item_id"])).title_zh
            for h in env["households"]:  # the balance rows exist for both paths after the first run
                ledger.lock_balance(h, env["period"])
            db.session.commit()
        log(f"setup in {time.perf_counter() - t0:.1f} s")
        if args.profile:
            profile_chunk(app, env)
        rates: dict = {}
        want = expected_moves(env, args.n)
        for procs in (1, 4):
            for _ in range(args.samples):
                for side in ("service", "raw"):
                    rate, rows, moves = measured(side, app, env, database, args.n, procs)
                    assert moves == want, f"{side}: balances moved other than the postings say"
                    assert rows == {"ledger_transactions": args.n, "ledger_postings": 2 * args.n,
                                    "household_balances": 0, "applications": args.n,
                                    "application_steps": args.n, "audit_entries": args.n,
                                    "notifications": args.n, "posted applications": args.n}, (side, rows)
                    rates.setdefault((side, procs), []).append(rate)
        final_checks(app, env)
        nightly = nightly_notice(app, env, args.notice_items)
        med = {k: statistics.median(v) for k, v in rates.items()}
        print(f"\nPoints posting, N = {args.n} per run, {args.households} households, PostgreSQL, "
              f"median of {args.samples}; load average {os.getloadavg()[0]:.2f}\n")
        print("| processes | service postings/s | raw postings/s | service/raw | target |")
        print("|---:|---:|---:|---:|---|")
        for procs in (1, 4):
            s, r = med[("service", procs)], med[("raw", procs)]
            print(f"| {procs} | {s:,.0f} | {r:,.0f} | {s / r:.2f} | {'met' if s / r >= 0.5 else 'missed'} |")
        print("\nsamples: " + "; ".join(f"{k[0]} {k[1]}p: " + ", ".join(f"{x:,.0f}" for x in v)
                                        for k, v in rates.items()))
        print(f"\n(c) posting.nightly closing one notice of {args.notice_items:,} items: {nightly:.2f} s "
              f"({args.notice_items / nightly:,.0f} postings/s)")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "n": args.n, "households": args.households, "nightly_s": nightly, "samples": args.samples,
                "rates": {f"{k}_{p}": v for (k, p), v in rates.items()}}, indent=2))
        return 0
    finally:
        database.drop()


if __name__ == "__main__":
    sys.exit(main())
