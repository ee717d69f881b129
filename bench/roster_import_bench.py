#!/usr/bin/env python3
"""Roster (花名册) import benchmark: 10,000 households from an xlsx, against the same work done bare.

    .venv/bin/python bench/roster_import_bench.py                  # SQLite in a temporary directory
    .venv/bin/python bench/roster_import_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/roster_import_bench.py --households 2000 --json out.json

What one run does (see bench/README.md):
1. builds a throwaway database (SQLite file in a temp dir; for PostgreSQL it creates its own
   database on the server of --database-url and drops it at the end), runs the migrations, onboards
   one township with 9 villages and a grid (per village 1 large, 2 medium, 4 small, 12 micro nodes);
2. generates the roster of N households (the demo's generator: 1-6 members, ID numbers, phones,
   tags) and writes it as an xlsx with the export's writer;
3. baseline, the same work bare: openpyxl read-only iteration of that file, grouping rows into
   households, and executemany INSERTs of the households and residents through a raw DB-API
   connection (sqlite3 / psycopg), one commit; then deletes those rows again (not timed);
4. Jifen: (a) upload = store + read + check every row (preview) + stage the rows, commit; (b) confirm
   = the request (marks it importing, enqueues the job) and the job, run inline after the commit as
   in the embedded default: check the staged rows again against the database, insert a chunk of
   households per transaction with its progress, audit; then, for reference, (c) the
   same file uploaded again (every household unchanged) and (d) an export of all 10,000.
Runs 3 times (--runs), each on a fresh database, and prints the medians and (a)+(b) against the
baseline (the median of each run's ratio). Target (issue 15): within 1.5 x on SQLite.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VILLAGES = ["礼坑村", "梅园村", "官田村", "彭坊村", "嶂下村", "竹径村", "光明村", "琴南村", "琴口村"]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Database:
    """A throwaway database: a SQLite file, or a new database on the given PostgreSQL server."""

    def __init__(self, url: str | None):
        from sqlalchemy.engine import make_url

        self.admin, self.tmp = None, None
        if not url:
            self.tmp = tempfile.mkdtemp(prefix="jifen-roster-bench-")
            self.path = os.path.join(self.tmp, "bench.db")
            self.url = "sqlite:///" + self.path
            return
        import psycopg

        base = make_url(url)
        self.admin = base.set(drivername="postgresql", database=base.database or "postgres")
        self.name = f"jifen_roster_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(self.admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.dsn = self.admin.set(database=self.name).render_as_string(hide_password=False)
        self.url = base.set(drivername="postgresql+psycopg", database=self.name).render_as_string(hide_password=False)
        log(f"created database {self.name}")

    @property
    def kind(self) -> str:
        return "postgresql" if self.admin else "sqlite"

    def connect(self):
        """A raw DB-API connection (the baseline's)."""
        if self.admin is None:
            conn = sqlite3.connect(self.path)
            conn.execute("PRAGMA foreign_keys=ON")
            return conn
        import psycopg

        return psycopg.connect(self.dsn)

    def drop(self) -> None:
        if self.admin is not None:
            import psycopg

            with psycopg.connect(self.admin.render_as_string(hide_password=False), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            log(f"dropped database {self.name}")
        elif self.tmp:
            for f in Path(self.tmp).iterdir():
                f.unlink()
            os.rmdir(self.tmp)


def setup(app):
    """A township with 9 villages and a four-level grid; returns (tenant, admin actor)."""
    from jifen.platform.accounts.service import actor_for, create_operator
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships import service as townships
    from jifen.tenants.villages import service as villages
    from jifen.tenants.villages.models import GridNode

    op = create_operator(townships.get_or_create_county("紫金县", "zijin"), "op", "运营员", "Bench-Pass-2026")
    db.session.flush()
    tenant, admin, _secret = townships.onboard(actor_for(op), {
        "slug": "longwo", "name": "龙窝镇", "timezone": "Asia/Shanghai", "admin_username": "admin",
        "admin_display_name": "管理员"})
    with tenant_scope(tenant):
        actor = actor_for(admin)
        for i, name in enumerate(VILLAGES):
            village = villages.create_village(actor, {"name": name, "code": f"v{i}"})

            def node(level, name, parent, village_id=village.id):
                n = GridNode(level=level, name=name, village_id=village_id, parent_id=parent.id if parent else None,
                             path="")
                db.session.add(n)
                db.session.flush()
                n.path = (parent.path if parent else "/") + f"{n.id}/"
                return n

            large = node(1, f"{name}网格", None)
            for m in range(2):
                medium = node(2, f"{name}{m + 1}片", large)
                for s in range(2):
                    small = node(3, f"{name}{m + 1}片{s + 1}区", medium)
                    for k in range(3):
                        node(4, f"{name}{m * 6 + s * 3 + k + 1}组", small)
    db.session.commit()
    return tenant, actor


def roster_file(households: int) -> tuple[bytes, int]:
    """(xlsx bytes, resident rows) of `households` generated households over the 9 villages."""
    from sqlalchemy import select

    from jifen.platform.db import db
    from jifen.tenants.households.demo import village_rows
    from jifen.tenants.households.roster_check import GridLookup
    from jifen.tenants.households.roster_excel import COLUMNS, write_roster
    from jifen.tenants.villages.models import MICRO, GridNode, Village

    villages = db.session.execute(select(Village).order_by(Village.code)).scalars().all()
    grid = GridLookup({v.id: v.name for v in villages})
    ids, rows = set(), []
    for i, village in enumerate(villages):
        nodes = db.session.execute(select(GridNode).where(GridNode.village_id == village.id, GridNode.level == MICRO)
                                   .order_by(GridNode.path)).scalars().all()
        count = households // len(villages) + (1 if i < households % len(villages) else 0)
        rows += village_rows(village, nodes, grid, ids, count)
    return write_roster([[r[k] for k, _h in COLUMNS] for r in rows]), len(rows)


def baseline(database: Database, data: bytes, tenant_id: uuid.UUID) -> float:
    """Read the file with openpyxl (read-only), group rows into households, executemany INSERT them
    and their residents through a raw connection, commit. Returns seconds; the rows are then deleted."""
    import io

    from openpyxl import load_workbook

    from jifen.platform.sealed import blind, seal  # the baseline stores ID numbers sealed too, as the app must

    sqlite = database.kind == "sqlite"
    ph = "?" if sqlite else "%s"
    ident = (lambda u: u.hex) if sqlite else (lambda u: u)
    conn = database.connect()
    cur = conn.cursor()
    tid = ident(tenant_id)
    cur.execute(f"SELECT name, id FROM villages WHERE tenant_id = {ph}", (tid,))
    villages = dict(cur.fetchall())
    cur.execute(f"SELECT name, id, village_id FROM grid_nodes WHERE tenant_id = {ph} AND level = 4", (tid,))
    nodes = {(v, n): i for n, i, v in cur.fetchall()}
    now = datetime.now(timezone.utc)
    now = now.isoformat(" ") if sqlite else now
    start = time.perf_counter()
    wb = load_workbook(io.BytesIO(data), read_only=True)
    households, residents = {}, []
    for row in wb.worksheets[0].iter_rows(min_row=2, values_only=True):
        village_name, grid, plate, name, relation, phone, id_number = row[:7]
        village = villages[village_name]
        key = (village, plate)
        if key not in households:
            households[key] = (tid, ident(uuid.uuid4()), village, nodes[(village, grid)], plate, "", "", "",
                               "active", "", now, now)
        residents.append((tid, ident(uuid.uuid4()), households[key][1], name, "", "", relation, phone or None,
                          seal(id_number or None), blind(id_number or None), 0, now))
    wb.close()
    cur.executemany(f"INSERT INTO households (tenant_id, id, village_id, grid_node_id, door_plate, head_name, "
                    f"head_pinyin, head_initials, status, note, created_at, updated_at) VALUES ({', '.join([ph] * 12)})",
                    list(households.values()))
    cur.executemany(f"INSERT INTO residents (tenant_id, id, household_id, name, name_pinyin, name_initials, "
                    f"relation, phone, id_number_sealed, id_number_hmac, sort_order, created_at) "
                    f"VALUES ({', '.join([ph] * 12)})",
                    residents)
    conn.commit()
    seconds = time.perf_counter() - start
    if sqlite:
        cur.execute("PRAGMA foreign_keys=OFF")  # SQLite would scan residents for every household deleted
    cur.execute(f"DELETE FROM residents WHERE tenant_id = {ph}", (tid,))
    cur.execute(f"DELETE FROM households WHERE tenant_id = {ph}", (tid,))
    conn.commit()
    conn.close()
    return seconds


PROFILE = None  # a cProfile.Profile when --profile: (a) and (b) are profiled together


def timed(label: str, fn, profile: bool = False):
    start = time.perf_counter()
    if profile and PROFILE is not None:
        result = PROFILE.runcall(fn)
    else:
        result = fn()
    seconds = time.perf_counter() - start
    log(f"{label}: {seconds:.2f} s")
    return result, seconds


def run(database: Database, households: int) -> dict:
    from flask_migrate import upgrade

    from jifen import create_app
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.tenants.households import roster

    app = create_app({"SQLALCHEMY_DATABASE_URI": database.url, "SECRET_KEY": "bench", "JIFEN_ENV": "development"})
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with app.app_context():
        upgrade()
        tenant, actor = setup(app)
        with tenant_scope(tenant):
            (data, resident_rows), make_s = timed("generate + write xlsx", lambda: roster_file(households))
        db.session.remove()
        log(f"file: {len(data) / 1e6:.1f} MB, {households} households, {resident_rows} resident rows")
        base_s = timed("baseline (openpyxl read-only + executemany)", lambda: baseline(database, data, tenant.id))[1]

        def step(fn):
            with tenant_scope(tenant):
                result = fn()
                db.session.commit()
            db.session.remove()
            return result

        imp, preview_s = timed("(a) upload + read + check (preview)",
                               lambda: step(lambda: roster.upload(actor, ("roster.xlsx", data))), profile=True)
        assert imp.status == "previewed", imp.errors[:5]
        def confirm_and_job():  # the request enqueues; its commit runs the job inline (the embedded default)
            step(lambda: roster.confirm(actor, imp.id))
            return step(lambda: roster.get_import(actor, imp.id))

        done, confirm_s = timed("(b) confirm: the request + the job (check again + import in chunks)",
                                confirm_and_job, profile=True)
        assert done.status == "imported" and done.summary["households_created"] == households, \
            (done.status, done.failure, done.summary)
        again, again_s = timed("(c) same file again (preview, all unchanged)",
                               lambda: step(lambda: roster.upload(actor, ("roster.xlsx", data))))
        assert again.summary["households_unchanged"] == households, again.summary
        export_s = timed("(d) export all", lambda: step(lambda: roster.export(actor)))[1]
    total = preview_s + confirm_s
    return {"database": database.kind, "households": households, "residents": resident_rows,
            "file_mb": round(len(data) / 1e6, 2), "generate_s": round(make_s, 2), "baseline_s": round(base_s, 2),
            "preview_s": round(preview_s, 2), "confirm_s": round(confirm_s, 2), "total_s": round(total, 2),
            "ratio": round(total / base_s, 2), "reimport_preview_s": round(again_s, 2),
            "export_s": round(export_s, 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", help="a PostgreSQL server to create a throwaway database on "
                                          "(postgresql+psycopg://postgres@127.0.0.1:5432/postgres); default SQLite")
    p.add_argument("--households", type=int, default=10_000)
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    p.add_argument("--runs", type=int, default=3, help="runs, each on a fresh database (medians are printed)")
    p.add_argument("--profile", action="store_true", help="cProfile (a) + (b), the top functions to stderr")
    args = p.parse_args(argv)
    global PROFILE
    if args.profile:
        import cProfile

        PROFILE = cProfile.Profile()
    load_before = os.getloadavg()[0]
    runs = []
    for _n in range(args.runs):  # each run on a fresh database; the figures are the medians
        database = Database(args.database_url)
        try:
            runs.append(run(database, args.households))
        finally:
            database.drop()
    result = {k: (statistics.median(r[k] for r in runs) if isinstance(v, float) else v) for k, v in runs[0].items()}
    result["ratio"] = statistics.median(r["ratio"] for r in runs)  # each run's ratio: same load for both sides
    result["samples"] = [{k: r[k] for k in ("baseline_s", "total_s", "ratio")} for r in runs]
    result["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1), os.cpu_count()]
    print(f"\nroster import, {result['database']}: {result['households']} households, {result['residents']} "
          f"residents, {result['file_mb']} MB xlsx; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs\n")
    print("| step | seconds |\n|---|---:|")
    for label, key in (("baseline: openpyxl read-only + executemany INSERT", "baseline_s"),
                       ("(a) upload + read + check (preview)", "preview_s"),
                       ("(b) confirm: check again + bulk import", "confirm_s"),
                       ("(a) + (b)", "total_s"),
                       ("(c) same file again, preview (all unchanged)", "reimport_preview_s"),
                       ("(d) export all", "export_s")):
        print(f"| {label} | {result[key]:.2f} |")
    print(f"\nmedians of {len(runs)} runs; each run's (baseline, (a)+(b), ratio): "
          + ", ".join(f"({r['baseline_s']}, {r['total_s']}, {r['ratio']})" for r in result["samples"]))
    print(f"(a)+(b) = {result['ratio']} x baseline; target (issue 15): within 1.5 x on SQLite: "
          f"{'met' if result['ratio'] <= 1.5 else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if PROFILE is not None:
        import pstats

        stats = pstats.Stats(PROFILE, stream=sys.stderr).strip_dirs()
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
