#!/usr/bin/env python3
"""HTTP benchmark: Jifen under gunicorn on random rows of a large township, against a bare Flask +
Flask-SQLAlchemy ORM get of a random row.

    .venv/bin/python bench/http_bench.py --keep       # builds the township (~3 min), ~25 min per class
    .venv/bin/python bench/http_bench.py --database NAME --worker-class sync   # reuse a kept township
    .venv/bin/python bench/http_bench.py --check      # exit 1 if a target is missed

What it does (see bench/README.md, "HTTP"):
1. creates a PostgreSQL database and builds in it (bench/township.py) a township of --households
   households (100,000) in --villages villages with a year of ledger history, the ranking
   snapshots retention keeps after a year, villager accounts and a grid worker; or uses the one
   an earlier --keep run left (--database);
2. mints, in the database, sessions and API tokens for the admin, the grid worker and --villagers
   random villagers (the way sign-in makes them; the form's rate limit would allow five);
3. per gunicorn worker class (sync, gthread) and access-log setting (--access-log off|on|both,
   always the same on both servers) starts the real app ("jifen:create_app()",
   JIFEN_ENV=production) and bench/baseline_app.py with deploy/gunicorn.conf.py's settings;
4. drives each target with N connections for D seconds, --samples times (3), the targets in turn
   in each round; each request picks a random row (wrk with a Lua script, or the Python load
   generator): household, village and ranking pages (admin), the villager's points home
   (`/t/<slug>/`, random villagers), the grid worker's queue, and their API equivalents; the
   baseline reads a random household by primary key;
5. prints the medians of req/s, p50 and p99, and real/baseline. Targets: ratio >= 0.6, p99 < 100 ms.
Every server it started is stopped and the database is dropped (unless --keep), whatever happens.

Environment: JIFEN_BENCH_ADMIN_URL (where to CREATE/DROP DATABASE;
postgresql://postgres@127.0.0.1:5432/postgres), JIFEN_BENCH_REDIS_URL (redis://127.0.0.1:6379/15).
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
import statistics
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
sys.path.insert(0, str(ROOT))
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
TENANT = "longwo"
USERNAME, PASSWORD = "admin", "Longwo-demo-2026"  # jifen demo's township admin
TARGET_RATIO, TARGET_P99_MS = 0.6, 100.0
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


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_script(paths: list) -> str:
    """wrk picks one of `paths` at random per request: a path, or (path, headers) when the
    request carries its own credential (a random villager's session)."""
    rows = []
    for item in paths:
        path, headers = (item, {}) if isinstance(item, str) else item
        hdrs = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
        rows.append(f"{{{_lua(path)}, {{{hdrs}}}}}")
    return ("reqs = {\n" + ",\n".join(rows) + "\n}\nrequest = function()\n"
            "  local r = reqs[math.random(#reqs)]\n"
            "  for k, v in pairs(wrk.headers) do if r[2][k] == nil then r[2][k] = v end end\n"
            "  return wrk.format(nil, r[1], r[2])\nend\n")


def run_wrk(url: str, headers: dict, connections: int, seconds: float, paths: list | None = None) -> tuple:
    """`paths`: each request asks for one of them at random (a Lua script), not `url`'s path."""
    threads = max(1, min(connections, os.cpu_count() or 1))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
           "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if paths:
        script = Path(tempfile.mkdtemp(prefix="jifen-wrk-")) / "paths.lua"
        script.write_text(lua_script(paths))
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
    items = [(p, {}) if isinstance(p, str) else p for p in paths or [(path, {})]]
    lat, errs, lock = [], [0], threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop():
        mine, bad, conn = [], 0, None
        while time.monotonic() < stop_at:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            t0 = time.perf_counter()
            try:
                one_path, own = random.choice(items)
                conn.request("GET", one_path, headers=headers | own)
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


def targets_for(slug: str, rows: dict, creds: dict, pages: int) -> list[tuple]:
    """(name, API?, paths) of every real target: random rows of the large township."""
    admin_c, admin_t = {"Cookie": creds["admin_cookie"]}, {"Authorization": f"Bearer {creds['admin_token']}"}
    grid_c, grid_t = {"Cookie": creds["grid_cookie"]}, {"Authorization": f"Bearer {creds['grid_token']}"}
    hh, vs = rows["households"], rows["villages"]
    rnd = random.Random(15)
    ranking = [f"/t/{slug}/rankings/villages/{rnd.choice(vs)}?page={rnd.randint(1, pages)}" for _ in range(500)]
    return [
        ("household", False, [(f"/t/{slug}/households/{h}", admin_c) for h in hh]),
        ("village", False, [(f"/t/{slug}/villages/{v}", admin_c) for v in vs]),
        ("ranking", False, [(p, admin_c) for p in ranking]),
        ("villager-home", False, [(f"/t/{slug}/", {"Cookie": c}) for c in creds["villager_cookies"].values()]),
        ("grid-queue", False, [(f"/t/{slug}/points/queue", grid_c)]),
        ("api-household", True, [(f"/api/v1/t/{slug}/households/{h}", admin_t) for h in hh]),
        ("api-village", True, [(f"/api/v1/t/{slug}/villages/{v}", admin_t) for v in vs]),
        ("api-ranking", True, [(f"/api/v1/t/{slug}/rankings/villages/{rnd.choice(vs)}?page={rnd.randint(1, pages)}",
                                admin_t) for _ in range(500)]),
        ("api-balances", True, [(f"/api/v1/t/{slug}/ledger/households/{h}/balances",
                                 {"Authorization": f"Bearer {creds['villager_tokens'][u]}"})
                                for u, h in rows["villagers"] if u in creds["villager_tokens"]]),
        ("api-queue", True, [(f"/api/v1/t/{slug}/points/queue", grid_t)]),
    ]


def measure(args, dbname: str, url: str, worker_class: str, access_log: bool, logdir: Path, secret: str,
            redis_url: str, slug: str, rows: dict, creds: dict, servers: list,
            extra_env: dict | None = None) -> list[Result]:
    """Every target `args.samples` times, the baseline between them each round; medians.
    `extra_env`: more JIFEN_* settings for both servers (citus_bench: JIFEN_CITUS=1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env |= {"JIFEN_ENV": "production", "JIFEN_SECRET_KEY": secret, "JIFEN_DATABASE_URL": url,
            "JIFEN_REDIS_URL": redis_url, "JIFEN_WORKER_CLASS": worker_class, **id_keys(secret),
            "JIFEN_RATELIMIT_KEY_PREFIX": args.ratelimit_prefix, "JIFEN_ACCESSLOG": "-" if access_log else "off",
            "JIFEN_GRACEFUL_TIMEOUT": "10", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    if args.workers:
        env["JIFEN_WORKERS"] = str(args.workers)
    if args.threads:
        env["JIFEN_THREADS"] = str(args.threads)
    if args.worker_connections:
        env["JIFEN_WORKER_CONNECTIONS"] = str(args.worker_connections)
    label = f"{worker_class}-{'log' if access_log else 'nolog'}"
    real = Server(f"jifen-{label}", "jifen:create_app()", env, logdir)
    base = Server(f"baseline-{label}", "baseline_app:create_app()", env, logdir, ["--pythonpath", str(ROOT / "bench")])
    servers += [real, base]
    real.wait_ready(timeout=180)
    base.wait_ready(timeout=180)
    tid = rows["tenant_id"]
    chosen = [t for t in targets_for(slug, rows, creds, args.ranking_pages) if not args.target or t[0] in args.target]
    plan = [(name, real, paths) for name, _api, paths in chosen]
    plan.append(("baseline", base, [f"/households/{tid}/{h}" for h in rows["households"]]))
    for name, server, paths in plan:  # every target answers 200 before it is measured
        path, own = (paths[0], {}) if isinstance(paths[0], str) else paths[0]
        check_answer(name, server.base + path, own, b"")
        if args.warmup > 0:
            drive(args.loadgen, server.base + path, {}, args.connections, args.warmup, paths)
    samples: dict[str, list] = {name: [] for name, _s, _p in plan}
    others: dict[str, list] = {name: [] for name, _s, _p in plan}
    for i in range(args.samples):
        for name, server, paths in plan:
            if args.quiet_wait > 0:
                wait_quiet(args.quiet_wait)
            meter = OtherCpu([real.proc.pid, base.proc.pid], dbname)
            path = paths[0] if isinstance(paths[0], str) else paths[0][0]
            n, secs, rps, p50, p99, errors = drive(args.loadgen, server.base + path, {}, args.connections,
                                                   args.duration, paths)
            samples[name].append((n, secs, rps, p50, p99, errors))
            others[name].append(meter.share())
            log(f"{label} #{i + 1} {name:14} {rps:8.1f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  errors {errors}")
    results = []
    for name, _s, _p in plan:
        runs = samples[name]
        med = lambda k, runs=runs: statistics.median(r[k] for r in runs)  # noqa: E731
        other = [o for o in others[name] if o is not None]
        r = Result(name, label, sum(x[0] for x in runs), round(sum(x[1] for x in runs), 1), round(med(2), 1),
                   round(med(3), 2), round(med(4), 2), sum(x[5] for x in runs),
                   round(max(other), 3) if other else None)
        r.notes.append("req/s of the samples: " + " / ".join(f"{x[2]:.0f}" for x in runs))
        if other and max(other) > NOISY:
            r.notes.append(f"other processes used up to {max(other):.0%} of the CPUs: noisy figures")
        results.append(r)
    baseline = results[-1].rps
    for r in results[:-1]:
        r.ratio = round(r.rps / baseline, 3) if baseline else None
        r.ok = bool(r.ratio is not None and r.ratio >= TARGET_RATIO and r.p99_ms < TARGET_P99_MS and r.errors == 0)
    for s in (real, base):
        s.stop()
        servers.remove(s)
    return results


def print_table(results: list[Result], meta: dict) -> None:
    print()
    print(f"Jifen HTTP bench  {meta['date']}  {meta['cores']} cores  load {meta['load']}  {meta['connections']} "
          f"connections  {meta['samples']} x {meta['duration']}s per target (medians)  loadgen={meta['loadgen']}  "
          f"workers={meta['workers']}  township {meta['size']}")
    head = f"{'server':14} {'target':14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} " \
           f"{'real/base':>9} {'other':>5}  target"
    print(head)
    print("-" * len(head))
    for r in results:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        verdict = "-" if r.ok is None else ("met" if r.ok else "MISSED")
        other = f"{r.other_cpu:.0%}" if r.other_cpu is not None else "?"
        print(f"{r.worker_class:14} {r.target:14} {r.rps:9.1f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:6d} "
              f"{ratio:>9} {other:>5}  {verdict}")
    print(f"targets: real/baseline req/s >= {TARGET_RATIO}, p99 < {TARGET_P99_MS:.0f} ms, no errors "
          "(baseline: the bare ORM get of a random household, same gunicorn settings and access log).\n"
          f"other: the most CPU processes outside the benchmark used during a sample (over {NOISY:.0%}: noise)")
    for r in results:
        for note in r.notes:
            print(f"  {r.worker_class}/{r.target}: {note}")


def prepare(args, admin_url: str, secret: str):
    """-> (database, app): a kept township (--database), or a new database with one built in it."""
    from bench import township
    from bench.scratch import Database
    from jifen import create_app

    if args.database:
        database = Existing(admin_url, args.database)
    else:
        database = Database(admin_url, "http")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database.url, "SECRET_KEY": secret, "SERVER_NAME": "jifen.test"})
    if not args.database:
        township.build(app, database.dsn, args.households, args.transactions, args.villages)
    return database, app


class Existing:
    """A database kept by an earlier run (--keep), used as it is and kept."""

    def __init__(self, admin_url: str, name: str):
        from sqlalchemy.engine import make_url

        base = make_url(sa_url(admin_url))
        self.name = name
        self.dsn = base.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
        self.url = base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        log(f"kept database {self.name}")


def sign_in(app, slug: str, rows: dict, villagers: int) -> dict:
    """Sessions and API tokens for the admin, the grid worker and `villagers` random villagers."""
    from bench import township

    ids = township.user_ids(app, slug, ["admin", township.GRID_WORKER])
    few = [u for u, _h in rows["villagers"][:villagers]]
    cookies = township.credentials(app, slug, [ids["admin"], ids[township.GRID_WORKER], *few], api=False)
    tokens = township.credentials(app, slug, [ids["admin"], ids[township.GRID_WORKER], *few], api=True)
    cookie = lambda v: f"{app.config.get('SESSION_COOKIE_NAME', 'session')}={v}"  # noqa: E731
    return {"admin_cookie": cookie(cookies[ids["admin"]]), "admin_token": tokens[ids["admin"]],
            "grid_cookie": cookie(cookies[ids[township.GRID_WORKER]]), "grid_token": tokens[ids[township.GRID_WORKER]],
            "villager_cookies": {u: cookie(cookies[u]) for u in few},
            "villager_tokens": {u: tokens[u] for u in few}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10, help="seconds of load per sample (10)")
    p.add_argument("--samples", type=int, default=3, help="samples per target, medians reported (3)")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up load per target (2)")
    p.add_argument("--connections", type=int, default=16, help="concurrent connections (16)")
    p.add_argument("--worker-class", action="append", choices=["sync", "gthread"],
                   help="measure only this class (repeatable; default both)")
    p.add_argument("--access-log", choices=["off", "on", "both"], default="off",
                   help="gunicorn's access log on both servers (off; both = two rounds)")
    p.add_argument("--target", action="append", help="measure only this target (repeatable)")
    p.add_argument("--households", type=int, default=100_000)
    p.add_argument("--transactions", type=int, default=1_200_000, help="ledger transactions in the year")
    p.add_argument("--villages", type=int, default=30)
    p.add_argument("--villagers", type=int, default=200, help="signed-in villagers to pick from at random")
    p.add_argument("--ranking-pages", type=int, default=40, help="ranking pages 1..N picked at random")
    p.add_argument("--keep", action="store_true", help="keep the database (prints its name)")
    p.add_argument("--database", help="use this database kept by an earlier run (--keep) as it is")
    p.add_argument("--workers", type=int, help="gunicorn workers (default: deploy/gunicorn.conf.py's)")
    p.add_argument("--threads", type=int, help="threads per gthread worker (default: the conf's)")
    p.add_argument("--worker-connections", type=int,
                   help="connections one gthread worker may hold (default: the conf's)")
    p.add_argument("--loadgen", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    p.add_argument("--quiet-wait", type=float, default=15,
                   help="before each sample wait up to this many seconds for other work to leave "
                        "the CPUs idle (15; 0 = don't wait)")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep the server logs (path printed)")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    classes = args.worker_class or ["sync", "gthread"]
    logs = {"off": [False], "on": [True], "both": [True, False]}[args.access_log]

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)  # so `finally` runs on kill, too

    logdir = Path(tempfile.mkdtemp(prefix="jifen-bench-"))
    redis_url = os.environ.get("JIFEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    admin_url = os.environ.get("JIFEN_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    secret = secrets.token_urlsafe(48)
    args.ratelimit_prefix = f"jifen-bench-{os.getpid()}-{secrets.token_hex(4)}"
    servers: list[Server] = []
    database = None
    t0 = time.monotonic()
    try:
        from bench import township

        database, app = prepare(args, admin_url, secret)
        slug = "bench"
        rows = township.sample(app, slug, 5000)
        creds = sign_in(app, slug, rows, args.villagers)
        size = f"{args.households:,} households" if not args.database else f"kept {args.database}"
        results = []
        for wc in classes:
            for access_log in logs:
                log(f"measuring worker class {wc}, access log {'on' if access_log else 'off'}")
                results += measure(args, database.name, database.url, wc, access_log, logdir, secret, redis_url,
                                   slug, rows, creds, servers)
        workers = args.workers or 2 * multiprocessing.cpu_count() + 1
        meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cores": os.cpu_count(),
                "load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "samples": args.samples,
                "connections": args.connections, "duration": args.duration, "loadgen": args.loadgen,
                "workers": workers, "threads": args.threads or 2, "python": sys.version.split()[0], "size": size}
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
    finally:
        for s in reversed(servers):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {s.name}: {e}")
        forget_ratelimits(redis_url, args.ratelimit_prefix)
        if database is not None:
            try:
                if args.keep:
                    log(f"kept database {database.name}: rerun with --database {database.name}")
                else:
                    database.drop()
            except Exception as e:
                log(f"could not drop {database.name}: {e}")
        if args.keep_logs:
            log(f"server logs in {logdir}")
        else:
            shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
