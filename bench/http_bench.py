#!/usr/bin/env python3
"""HTTP benchmark: Jifen under gunicorn against a bare Flask + Flask-SQLAlchemy baseline.

    .venv/bin/python bench/http_bench.py               # ~100 s, prints the table
    .venv/bin/python bench/http_bench.py --check       # exit 1 if a target is missed

What it does, every run from nothing (see bench/README.md):
1. creates a fresh PostgreSQL database (or uses JIFEN_BENCH_DATABASE_URL as it is), runs
   `jifen db upgrade` and `jifen demo` against it;
2. for each gunicorn worker class (sync, gthread) starts two servers with deploy/gunicorn.conf.py
   and the same worker settings: the real app ("jifen:create_app()", JIFEN_ENV=production) and
   bench/baseline_app.py (one ORM get of one village row by primary key per request, as JSON);
3. signs in once (API token; page session cookie) and drives, with N concurrent connections for
   D seconds each after a short warm-up (wrk --latency when installed, else a Python load
   generator that records every request's latency):
     api       GET /api/v1/t/longwo/villages/<id>    Authorization: Bearer <token>
     page      GET /t/longwo/villages/               signed-in session cookie
     baseline  GET /villages/<tenant id>/<id>        bare Flask + Flask-SQLAlchemy
4. prints requests/s, p50, p99, the share of requests the busiest worker served (from the access
   log), and real/baseline throughput. Targets: ratio >= 0.5 and p99 < 100 ms.
Every server it started is stopped and the database it created is dropped, whatever happens.

Environment: JIFEN_BENCH_DATABASE_URL (use this database, don't create or drop one),
JIFEN_BENCH_ADMIN_URL (where to CREATE/DROP DATABASE; postgresql://postgres@127.0.0.1:5432/postgres),
JIFEN_BENCH_REDIS_URL (redis://127.0.0.1:6379/15).
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
TENANT = "longwo"
USERNAME, PASSWORD = "admin", "Longwo-demo-2026"  # jifen demo's township admin
TARGET_RATIO, TARGET_P99_MS = 0.5, 100.0
NOISY = 0.10  # other processes' CPU share during a run above which its figures are marked noisy


# --- small helpers ----------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jifen_cmd(*args: str) -> list[str]:
    """The `jifen` console command of this interpreter's environment."""
    script = Path(sys.executable).parent / "jifen"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "import sys; from jifen.cli import main; sys.argv[0] = 'jifen'; main()", *args]


def pg_url(url: str) -> str:
    """psycopg wants postgresql://, SQLAlchemy postgresql+psycopg://."""
    return re.sub(r"^postgresql\+psycopg://", "postgresql://", url)


def sa_url(url: str) -> str:
    return re.sub(r"^postgresql://", "postgresql+psycopg://", url)


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy over `seconds` (Linux /proc/stat); None where unknown."""
    def sample():
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        return sum(vals), vals[3] + vals[4]  # total, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except OSError:
        return None
    return 1 - (i1 - i0) / max(1, t1 - t0)


def wait_quiet(limit: float, threshold: float = 0.25) -> float | None:
    """Wait (at most `limit` s) until the machine is idle enough to measure; -> last busy share.

    The servers are idle when this runs, so whatever keeps the CPUs busy is someone else's work
    (a test suite, a build), and it would make the figures noise."""
    deadline = time.monotonic() + limit
    busy = cpu_busy()
    while busy is not None and busy > threshold and time.monotonic() < deadline:
        log(f"machine busy ({busy:.0%} CPU used by other work); waiting")
        busy = cpu_busy(2.0)
    return busy


class OtherCpu:
    """CPU that processes other than this benchmark's used during a run, as a share of all CPUs.

    Ours: the bench's process group (this script, wrk), each gunicorn's process group (a master's
    reaped children count through it) and the PostgreSQL backends of the bench database. Anything
    else busy meanwhile (a test suite, a build) competes for the same cores and makes the figures
    noise; the table shows it per row."""

    def __init__(self, server_pgids: list[int], dbname: str | None):
        self.pgids = {os.getpgrp(), *server_pgids}
        self.dbname = dbname
        self.start, self.t0 = self._snapshot(), time.monotonic()

    def _snapshot(self) -> dict:
        snap = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                pgrp = int(fields[2])
                own_and_reaped = sum(int(x) for x in fields[11:15])
                ours = pgrp in self.pgids
                if not ours and self.dbname:
                    with open(f"/proc/{d}/cmdline", "rb") as f:
                        ours = self.dbname.encode() in f.read()
                snap[int(d)] = (ours, own_and_reaped if ours else int(fields[11]) + int(fields[12]))
            except (OSError, IndexError, ValueError):
                continue
        return snap

    def share(self) -> float | None:
        try:
            end, elapsed = self._snapshot(), time.monotonic() - self.t0
        except OSError:
            return None
        other = sum(j - self.start.get(pid, (False, 0))[1] for pid, (ours, j) in end.items() if not ours)
        return max(0.0, other / (os.sysconf("SC_CLK_TCK") * elapsed * (os.cpu_count() or 1)))


# --- database ---------------------------------------------------------------------------------

class BenchDatabase:
    """A fresh database (dropped on close), or the one in JIFEN_BENCH_DATABASE_URL (kept)."""

    def __init__(self, given: str | None, admin_url: str):
        self.admin_url, self.name = admin_url, None
        if given:
            self.url = sa_url(given)
            self.dbname = urllib.parse.urlsplit(pg_url(given)).path.lstrip("/") or None
            return
        import psycopg

        self.name = f"jifen_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(pg_url(admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        parts = urllib.parse.urlsplit(pg_url(admin_url))
        self.url = sa_url(urllib.parse.urlunsplit(parts._replace(path="/" + self.name)))
        self.dbname = self.name
        log(f"created database {self.name}")

    def drop(self) -> None:
        if not self.name:
            return
        import psycopg

        with psycopg.connect(pg_url(self.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        log(f"dropped database {self.name}")
        self.name = None

    def demo_ids(self) -> tuple[str, str]:
        """(tenant id, id of one village) of the demo township."""
        import psycopg

        with psycopg.connect(pg_url(self.url)) as conn:
            row = conn.execute(
                "SELECT t.id, v.id FROM tenants t JOIN villages v ON v.tenant_id = t.id "
                "WHERE t.slug = %s ORDER BY v.sort_order LIMIT 1", (TENANT,)).fetchone()
        if row is None:
            raise SystemExit("the demo township has no village: did `jifen demo` run?")
        return str(row[0]), str(row[1])


# --- servers ----------------------------------------------------------------------------------

class Server:
    """One gunicorn master (and its workers) in its own process group."""

    def __init__(self, name: str, app: str, env: dict, logdir: Path, extra: list[str] = ()):
        self.name, self.port = name, free_port()
        self.logfile = logdir / f"{name}.log"
        env = env | {"JIFEN_BIND": f"127.0.0.1:{self.port}"}
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), *extra, app]
        self._out = open(self.logfile, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/healthz", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {self.logfile}:\n"
                                   + self.logfile.read_text(errors="replace")[-3000:])
            try:
                status, _, _ = request("GET", self.base + path)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s; see {self.logfile}")

    def log_size(self) -> int:
        self._out.flush()
        return self.logfile.stat().st_size

    def requests_by_worker(self, start: int, end: int) -> Counter:
        """Access-log lines per worker pid between two log offsets (the format logs pid=<pid>)."""
        with open(self.logfile, "rb") as f:
            f.seek(start)
            chunk = f.read(max(0, end - start)).decode(errors="replace")
        return Counter(re.findall(r" pid=<(\d+)>", chunk))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # graceful: master stops its workers
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        try:  # stray workers of a master that died
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._out.close()


def forget_ratelimits(redis_url: str, prefix: str) -> None:
    """Delete the login rate-limit counters this run left in Redis (they would expire anyway)."""
    try:
        import redis

        r = redis.Redis.from_url(redis_url, socket_timeout=5)
        keys = list(r.scan_iter(match=f"*{prefix}*", count=500))
        if keys:
            r.delete(*keys)
    except Exception as e:  # never fail a run over this
        log(f"could not clean rate-limit keys: {e}")


# --- HTTP client bits -------------------------------------------------------------------------

def request(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    """-> (status, headers as list of pairs, body bytes). No redirects followed, no cookie jar."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        path = u.path + ("?" + u.query if u.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def cookies_from(headers) -> dict:
    """name -> value from Set-Cookie headers (the app sets Secure cookies in production; we are
    plain http on loopback, so the jar is kept by hand)."""
    jar = {}
    for k, v in headers:
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            jar[name.strip()] = rest.split(";", 1)[0]
    return jar


def cookie_header(jar: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def api_token(base: str) -> str:
    body = json.dumps({"username": USERNAME, "password": PASSWORD, "token_name": "bench"}).encode()
    status, _, data = request("POST", f"{base}/api/v1/t/{TENANT}/auth/token", body,
                              {"Content-Type": "application/json"})
    if status != 201:
        raise RuntimeError(f"API sign-in answered {status}: {data[:300]!r}")
    return json.loads(data)["token"]


def page_session(base: str) -> str:
    """Sign in through the login form; returns the Cookie header of the signed-in session."""
    status, headers, data = request("GET", f"{base}/t/{TENANT}/login")
    if status != 200:
        raise RuntimeError(f"login page answered {status}")
    jar = cookies_from(headers)
    m = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', data) or re.search(
        rb'value="([^"]+)"[^>]*name="csrf_token"', data)
    if not m:
        raise RuntimeError("no csrf_token on the login page")
    form = urllib.parse.urlencode({"csrf_token": m.group(1).decode(), "username": USERNAME,
                                   "password": PASSWORD}).encode()
    status, headers, data = request("POST", f"{base}/t/{TENANT}/login", form, {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie_header(jar)})
    if status not in (302, 303):
        raise RuntimeError(f"page sign-in answered {status}: {data[:300]!r}")
    jar |= cookies_from(headers)
    return cookie_header(jar)


# --- load generation --------------------------------------------------------------------------

@dataclass
class Result:
    target: str
    worker_class: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers plus socket errors
    other_cpu: float | None = None  # share of all CPUs other processes used during the run
    busiest_worker_share: float | None = None
    workers_seen: int | None = None
    ratio: float | None = None
    ok: bool | None = None
    notes: list[str] = field(default_factory=list)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, headers: dict, connections: int, seconds: float, paths: list | None = None) -> tuple:
    """`paths`: each request asks for one of them at random (a Lua script), not `url`'s path."""
    threads = max(1, min(connections, os.cpu_count() or 1))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
           "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if paths:
        script = Path(tempfile.mkdtemp(prefix="jifen-wrk-")) / "paths.lua"
        listed = ",\n".join('"' + p.replace('"', '\\"') + '"' for p in paths)
        script.write_text(f"paths = {{\n{listed}\n}}\nrequest = function()\n"
                          "  return wrk.format(nil, paths[math.random(#paths)])\nend\n")
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))
    dur = re.search(r"requests in ([\d.]+\w+)", out).group(1)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        # with sync workers (no keep-alive) wrk counts the server's close as a read "error"
        errors += int(m.group(1)) + int(m.group(3)) + int(m.group(4))
    return total, _ms(dur) / 1000, rps, p50, p99, errors


def _py_worker(url: str, headers: dict, threads: int, seconds: float, out, paths: list | None = None) -> None:
    """One load-generator process: `threads` keep-alive connections, every latency recorded."""
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    pick_path = (lambda: random.choice(paths)) if paths else (lambda: path)  # noqa: E731
    lat, errs, lock = [], [0], threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop():
        mine, bad, conn = [], 0, None
        while time.monotonic() < stop_at:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            t0 = time.perf_counter()
            try:
                conn.request("GET", pick_path(), headers=headers)
                resp = conn.getresponse()
                resp.read()
                mine.append(time.perf_counter() - t0)
                bad += not (200 <= resp.status < 400)
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            lat.extend(mine)
            errs[0] += bad

    ts = [threading.Thread(target=loop) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((lat, errs[0]))


def run_python(url: str, headers: dict, connections: int, seconds: float, paths: list | None = None) -> tuple:
    procs = max(1, min(connections, (os.cpu_count() or 1) * 2))
    share = [connections // procs + (i < connections % procs) for i in range(procs)]
    q = multiprocessing.get_context("fork").Queue()
    t0 = time.monotonic()
    ps = [multiprocessing.get_context("fork").Process(target=_py_worker, args=(url, headers, n, seconds, q, paths))
          for n in share if n]
    for p in ps:
        p.start()
    lat, errors = [], 0
    for _ in ps:
        part, bad = q.get()
        lat += part
        errors += bad
    for p in ps:
        p.join()
    elapsed = time.monotonic() - t0
    lat.sort()
    pick = lambda q_: lat[min(len(lat) - 1, int(q_ * len(lat)))] * 1000 if lat else float("nan")  # noqa: E731
    return len(lat), elapsed, len(lat) / elapsed, pick(0.50), pick(0.99), errors


def drive(loadgen: str, url: str, headers: dict, connections: int, seconds: float,
          paths: list | None = None) -> tuple:
    return (run_wrk if loadgen == "wrk" else run_python)(url, headers, connections, seconds, paths)


# --- the run ----------------------------------------------------------------------------------

def check_answer(name: str, url: str, headers: dict, expect: bytes) -> None:
    status, _, body = request("GET", url, headers=headers)
    if status != 200 or expect not in body:
        raise RuntimeError(f"{name}: GET {url} answered {status}, not the expected page: {body[:300]!r}")


def id_keys(secret: str) -> dict:
    """The ID number keys production requires (platform/sealed.py), the same for the CLI and the servers."""
    import json

    from jifen.platform.sealed import derived_key

    return {"JIFEN_ID_KEYS": json.dumps([derived_key(secret, "id-keys")]),
            "JIFEN_ID_HMAC_KEY": derived_key(secret, "id-hmac")}


def measure(args, db: BenchDatabase, worker_class: str, logdir: Path, secret: str,
            redis_url: str, tenant_id: str, village_id: str, servers: list, creds: dict) -> list[Result]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env |= {"JIFEN_ENV": "production", "JIFEN_SECRET_KEY": secret, "JIFEN_DATABASE_URL": db.url,
            "JIFEN_REDIS_URL": redis_url, "JIFEN_WORKER_CLASS": worker_class, **id_keys(secret),
            # login limits stay on, but counted apart from earlier runs (5 sign-ins a minute)
            "JIFEN_RATELIMIT_KEY_PREFIX": args.ratelimit_prefix,
            "JIFEN_GRACEFUL_TIMEOUT": "10", "PYTHONUNBUFFERED": "1"}
    if args.workers:
        env["JIFEN_WORKERS"] = str(args.workers)
    if args.threads:
        env["JIFEN_THREADS"] = str(args.threads)
    if args.worker_connections:
        env["JIFEN_WORKER_CONNECTIONS"] = str(args.worker_connections)
    real = Server(f"jifen-{worker_class}", "jifen:create_app()", env, logdir)
    servers.append(real)
    base = Server(f"baseline-{worker_class}", "baseline_app:create_app()", env, logdir,
                  ["--pythonpath", str(ROOT / "bench")])
    servers.append(base)
    real.wait_ready()
    base.wait_ready()
    if "token" not in creds:  # sessions and tokens live in the database: sign in once per run
        creds["token"] = api_token(real.base)
        creds["cookie"] = page_session(real.base)
    targets = [
        ("api", real, f"/api/v1/t/{TENANT}/villages/{village_id}", {"Authorization": f"Bearer {creds['token']}"},
         village_id.encode()),
        ("page", real, f"/t/{TENANT}/villages/", {"Cookie": creds["cookie"]}, "礼坑村".encode()),
        ("baseline", base, f"/villages/{tenant_id}/{village_id}", {}, village_id.encode()),
    ]
    results = []
    for name, server, path, headers, expect in targets:
        url = server.base + path
        check_answer(name, url, headers, expect)
        if args.warmup > 0:
            drive(args.loadgen, url, headers, args.connections, args.warmup)
        if args.quiet_wait > 0:
            wait_quiet(args.quiet_wait)
        start = server.log_size()
        others = OtherCpu([real.proc.pid, base.proc.pid], db.dbname)
        n, secs, rps, p50, p99, errors = drive(args.loadgen, url, headers, args.connections, args.duration)
        other = others.share()
        time.sleep(0.3)  # let the access log catch up
        spread = server.requests_by_worker(start, server.log_size())
        r = Result(name, worker_class, n, round(secs, 2), round(rps, 1), round(p50, 2), round(p99, 2), errors,
                   None if other is None else round(other, 3))
        if other is not None and other > NOISY:
            r.notes.append(f"other processes used {other:.0%} of the CPUs during the run: noisy figures")
        if spread:
            r.busiest_worker_share = round(max(spread.values()) / sum(spread.values()), 3)
            r.workers_seen = len(spread)
        results.append(r)
        log(f"{worker_class:7} {name:8} {rps:8.1f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  errors {errors}")
    baseline = results[-1].rps
    for r in results[:-1]:
        r.ratio = round(r.rps / baseline, 3) if baseline else None
        r.ok = bool(r.ratio is not None and r.ratio >= TARGET_RATIO and r.p99_ms < TARGET_P99_MS
                    and r.errors == 0)
        if r.errors:
            r.notes.append(f"{r.errors} errors")
    for s in (real, base):
        s.stop()
        servers.remove(s)
    return results


def print_table(results: list[Result], meta: dict) -> None:
    print()
    print(f"Jifen HTTP bench  {meta['date']}  {meta['cores']} cores  {meta['connections']} connections  "
          f"{meta['duration']}s each  loadgen={meta['loadgen']}  workers={meta['workers']}")
    head = f"{'class':8} {'target':9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} " \
           f"{'busiest worker':>15} {'real/base':>9} {'other':>5}  target"
    print(head)
    print("-" * len(head))
    for r in results:
        share = f"{r.busiest_worker_share:.0%} of {r.workers_seen}" if r.busiest_worker_share else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        verdict = "-" if r.ok is None else ("met" if r.ok else "MISSED")
        other = f"{r.other_cpu:.0%}" if r.other_cpu is not None else "?"
        print(f"{r.worker_class:8} {r.target:9} {r.rps:9.1f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:6d} "
              f"{share:>15} {ratio:>9} {other:>5}  {verdict}")
    print(f"targets: real/baseline req/s >= {TARGET_RATIO}, p99 < {TARGET_P99_MS:.0f} ms, no errors.\n"
          f"other: CPU share that processes outside the benchmark used during the run "
          f"(over {NOISY:.0%}: the figures are noise)")
    for r in results:
        for note in r.notes:
            print(f"  {r.worker_class}/{r.target}: {note}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10, help="seconds of load per target (10)")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up load per target (2)")
    p.add_argument("--connections", type=int, default=16, help="concurrent connections (16)")
    p.add_argument("--worker-class", action="append", choices=["sync", "gthread"],
                   help="measure only this class (repeatable; default both)")
    p.add_argument("--workers", type=int, help="gunicorn workers (default: deploy/gunicorn.conf.py's)")
    p.add_argument("--threads", type=int, help="threads per gthread worker (default: the conf's)")
    p.add_argument("--worker-connections", type=int,
                   help="connections one gthread worker may hold (default: the conf's)")
    p.add_argument("--loadgen", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    p.add_argument("--quiet-wait", type=float, default=15,
                   help="before each target wait up to this many seconds for other work to leave "
                        "the CPUs idle (15; 0 = don't wait)")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep the server logs (path printed)")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    classes = args.worker_class or ["sync", "gthread"]

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)  # so `finally` runs on kill, too

    logdir = Path(tempfile.mkdtemp(prefix="jifen-bench-"))
    redis_url = os.environ.get("JIFEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    admin_url = os.environ.get("JIFEN_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    secret = secrets.token_urlsafe(48)
    args.ratelimit_prefix = f"jifen-bench-{os.getpid()}-{secrets.token_hex(4)}"
    servers: list[Server] = []
    db = None
    t0 = time.monotonic()
    try:
        db = BenchDatabase(os.environ.get("JIFEN_BENCH_DATABASE_URL"), admin_url)
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
        cli_env |= {"JIFEN_ENV": "production", "JIFEN_SECRET_KEY": secret, "JIFEN_DATABASE_URL": db.url,
                    "JIFEN_REDIS_URL": redis_url, **id_keys(secret)}
        for step in (["db", "upgrade"], ["demo"]):
            log("jifen " + " ".join(step))
            subprocess.run(jifen_cmd(*step), cwd=ROOT, env=cli_env, check=True, capture_output=True)
        tenant_id, village_id = db.demo_ids()
        results, creds = [], {}
        for wc in classes:
            log(f"measuring worker class {wc}")
            results += measure(args, db, wc, logdir, secret, redis_url, tenant_id, village_id, servers, creds)
        workers = args.workers or 2 * multiprocessing.cpu_count() + 1
        meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cores": os.cpu_count(),
                "connections": args.connections, "duration": args.duration, "loadgen": args.loadgen,
                "workers": workers, "threads": args.threads or 2, "python": sys.version.split()[0]}
        print_table(results, meta)
        if args.json:
            args.json.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results]},
                                            indent=2, ensure_ascii=False))
        missed = [r for r in results if r.ok is False]
        log(f"done in {time.monotonic() - t0:.0f}s")
        if missed and args.check:
            log("targets missed: " + ", ".join(f"{r.worker_class}/{r.target}" for r in missed))
            return 1
        return 0
    except subprocess.CalledProcessError as e:
        log(f"{' '.join(map(str, e.cmd))} failed:\n{(e.stderr or b'').decode(errors='replace')[-3000:]}")
        return 2
    finally:
        for s in reversed(servers):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {s.name}: {e}")
        forget_ratelimits(redis_url, args.ratelimit_prefix)
        if db is not None:
            try:
                db.drop()
            except Exception as e:
                log(f"could not drop {db.name}: {e}")
        if args.keep_logs:
            log(f"server logs in {logdir}")
        else:
            shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
