#!/usr/bin/env python3
"""Where a signed-in request's time goes, in process: the HTTP bench's targets on a kept township.

    .venv/bin/python bench/page_profile.py --database NAME              # every target, 30 requests each
    .venv/bin/python bench/page_profile.py --database NAME --target ranking --requests 100 --cprofile 25

NAME is a database `bench/http_bench.py --keep` left. The app is built as the servers build it
(production settings, Redis for the caches) and each target's random paths are requested through the
Flask test client after one warm-up pass. Per target it prints the CPU time per request (this
process; PostgreSQL's CPU is not in it), the wall time, the statements per request and the SQL
time (driver + server, measured around each execute), and the slowest statements; `--cprofile N`
adds the N costliest functions. This is the profile bench/README.md quotes; it is not a load test.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_bench import Existing, id_keys, sign_in, targets_for  # noqa: E402


class StatementClock:
    """Counts and times every statement the engine runs (cursor execute to result)."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.count, self.seconds, self.by_sql = 0, 0.0, defaultdict(lambda: [0, 0.0])
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, params, context, executemany):
        conn.info["t0"] = time.perf_counter()

    def _after(self, conn, cursor, statement, params, context, executemany):
        spent = time.perf_counter() - conn.info.pop("t0")
        self.count += 1
        self.seconds += spent
        entry = self.by_sql[" ".join(statement.split())[:220]]
        entry[0] += 1
        entry[1] += spent

    def reset(self):
        self.count, self.seconds = 0, 0.0
        self.by_sql.clear()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", required=True, help="a database kept by bench/http_bench.py --keep")
    p.add_argument("--target", action="append", help="only this target (repeatable)")
    p.add_argument("--requests", type=int, default=30)
    p.add_argument("--cprofile", type=int, default=0, help="print the N costliest functions per target")
    p.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"], help="--cprofile's order")
    p.add_argument("--dump", type=Path, help="also save the cProfile data here (pstats), for print_callers")
    p.add_argument("--statements", type=int, default=6, help="slowest statements shown per target")
    args = p.parse_args(argv)

    admin_url = os.environ.get("JIFEN_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("JIFEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    secret = secrets.token_urlsafe(48)
    database = Existing(admin_url, args.database)
    os.environ.update({"JIFEN_ENV": "production", "JIFEN_SECRET_KEY": secret, "JIFEN_DATABASE_URL": database.url,
                       "JIFEN_REDIS_URL": redis_url, **id_keys(secret)})
    from bench import township
    from jifen import create_app
    from jifen.platform.db import db

    app = create_app()
    rows = township.sample(app, "bench", 5000)
    creds = sign_in(app, "bench", rows, 50)
    with app.app_context():
        clock = StatementClock(db.engine)
    client = app.test_client(use_cookies=False)  # each request carries its own credential
    print(f"{'target':15} {'cpu ms':>7} {'wall ms':>8} {'stmts':>6} {'sql ms':>7}")
    for name, _api, paths in targets_for("bench", rows, creds, 40):
        if args.target and name not in args.target:
            continue
        chosen = [paths[i % len(paths)] for i in range(args.requests)]
        for path, headers in chosen[:5]:  # warm-up: caches, compiled statements, templates
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code, answer.headers.get("Location"))
        clock.reset()
        profiler = cProfile.Profile() if args.cprofile else None
        walls, cpu0 = [], time.process_time()
        for path, headers in chosen:
            t0 = time.perf_counter()
            if profiler:
                profiler.enable()
            status = client.get(path, headers=headers).status_code
            if profiler:
                profiler.disable()
            walls.append(time.perf_counter() - t0)
            assert status == 200, (path, status)
        cpu = (time.process_time() - cpu0) / len(chosen)
        print(f"{name:15} {cpu * 1000:7.2f} {statistics.median(walls) * 1000:8.2f} "
              f"{clock.count / len(chosen):6.1f} {clock.seconds * 1000 / len(chosen):7.2f}")
        slowest = sorted(clock.by_sql.items(), key=lambda kv: -kv[1][1])[:args.statements]
        for sql, (n, secs) in slowest:
            print(f"    {secs * 1000 / len(chosen):6.2f} ms/req  x{n / len(chosen):.1f}  {sql}")
        if profiler:
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.cprofile)
            if args.dump:
                profiler.dump_stats(args.dump.with_suffix(f".{name}.prof"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
