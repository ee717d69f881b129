"""gunicorn settings for the Jifen web process.

    gunicorn -c deploy/gunicorn.conf.py "jifen:create_app()"

Every setting can be changed from the environment, so the same file serves the container, a plain
VM and the benchmark (bench/http_bench.py):

    JIFEN_BIND               address to listen on                  (0.0.0.0:8000)
    JIFEN_WORKERS            worker processes                      (2 x CPU cores + 1)
    JIFEN_WORKER_CLASS       sync | gthread                        (gthread)
    JIFEN_THREADS            threads per gthread worker            (2)
    JIFEN_WORKER_CONNECTIONS connections one gthread worker may hold (2 x threads)
    JIFEN_TIMEOUT            seconds before a silent worker is killed and replaced  (30)
    JIFEN_GRACEFUL_TIMEOUT   seconds a worker gets to finish on restart/stop        (30)
    JIFEN_KEEPALIVE          seconds an idle keep-alive connection is held (gthread) (5)
    JIFEN_MAX_REQUESTS       recycle a worker after this many requests, 0 = never    (10000)
    JIFEN_MAX_REQUESTS_JITTER  random extra, so workers don't all recycle at once    (1000)
    JIFEN_FORWARDED_ALLOW_IPS  proxies whose X-Forwarded-Proto is trusted (127.0.0.1,::1)
    JIFEN_ACCESSLOG          "-" (stdout), a file path, or "off"   (-)
    JIFEN_LOGLEVEL           gunicorn's own log level               (info)
    JIFEN_LOG_FORMAT         json | text: gunicorn's lines as the app's (json when JIFEN_ENV=production)
    PROMETHEUS_MULTIPROC_DIR folder where every worker writes its metrics (a new one in /dev/shm)

Why these defaults (measured in bench/README.md):
* gthread with 2 threads is the default because pages wait on PostgreSQL and a thread can serve
  another request meanwhile, and because it keeps nginx's upstream keep-alive connections open.
  More threads do not add throughput (requests are mostly CPU under one GIL) and 4 threads made
  p99 swing from 70 to 450 ms between runs; 2 threads kept it at 63-75 ms (bench/README.md).
  Its trap: a keep-alive connection stays on the worker that accepted it, so a few long-lived
  connections can pile onto one worker while the others idle; worker_connections below caps
  that. The benchmark measures both classes.
* sync workers are the plain alternative: one request per process, no keep-alive.
* The app is not preloaded: each worker builds its own app and its own SQLAlchemy connection
  pool after the fork (a pool created before fork would be shared by every worker). Building
  the app costs a worker about 1.2 s of CPU, hence the high max_requests: recycling every 2000
  requests would spend ~10% of the CPU on restarts (at ~6 ms per request) and showed as p99
  spikes in the benchmark.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


bind = [_env_str("JIFEN_BIND", "0.0.0.0:8000")]
workers = _env_int("JIFEN_WORKERS", 2 * multiprocessing.cpu_count() + 1)
worker_class = _env_str("JIFEN_WORKER_CLASS", "gthread")
if worker_class == "gthread":
    threads = _env_int("JIFEN_THREADS", 2)
    # The most connections (busy + keep-alive) one gthread worker holds; gunicorn keeps at most
    # worker_connections - threads of them idle in keep-alive. gunicorn's own default (1000) lets
    # whichever worker wakes first take every connection of a small, long-lived client pool
    # (nginx's upstream keepalive, a benchmark) and serve them all on one core, under one GIL.
    # 2 x threads bounds that while keeping connection churn low (bench/README.md).
    worker_connections = _env_int("JIFEN_WORKER_CONNECTIONS", 2 * threads)

timeout = _env_int("JIFEN_TIMEOUT", 30)
graceful_timeout = _env_int("JIFEN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("JIFEN_KEEPALIVE", 5)  # nginx's upstream keepalive_timeout should be shorter
max_requests = _env_int("JIFEN_MAX_REQUESTS", 10000)
max_requests_jitter = _env_int("JIFEN_MAX_REQUESTS_JITTER", 1000)
preload_app = False

# nginx (or the load balancer) terminates TLS and sets X-Forwarded-Proto; only trust it from there.
# In docker-compose the proxy has no fixed address: set JIFEN_FORWARDED_ALLOW_IPS to its network
# (e.g. 172.16.0.0/12) or "*" when gunicorn is reachable from nowhere but the proxy.
forwarded_allow_ips = _env_str("JIFEN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The heartbeat file lives in memory: on a container's overlay filesystem fchmod can stall workers.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# gunicorn >= 25.1 opens a control socket at a fixed path ($HOME/.gunicorn/gunicorn.ctl): two
# masters on one host (the benchmark runs two) would fight over it. Off unless a path is given.
_control = os.environ.get("JIFEN_CONTROL_SOCKET", "").strip()
if _control:
    control_socket = _control
else:
    control_socket_disable = True

_accesslog = _env_str("JIFEN_ACCESSLOG", "-")
accesslog = None if _accesslog.lower() in ("off", "none", "0", "false") else _accesslog
errorlog = "-"
loglevel = _env_str("JIFEN_LOGLEVEL", "info")
# gunicorn's own lines ("Booting worker", "WORKER TIMEOUT", the access log) through the app's
# formatter: JSON lines in production (JIFEN_ENV=production or JIFEN_LOG_FORMAT=json), like the
# app's; the text lines in development. One formatter, jifen/platform/logs.py.
from jifen.platform.logs import gunicorn_logconfig  # noqa: E402

logconfig_dict = gunicorn_logconfig(loglevel, accesslog)
# The request id is the one the app answers with (taken from nginx's X-Request-ID or made anew),
# so an access-log line can be matched with the app's log and the audit log.
access_log_format = ('%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms '
                     'rid=%({x-request-id}o)s pid=%(p)s "%(a)s"')
proc_name = "jifen-web"

# Metrics (deploy/README.md, "Metrics"): prometheus_client's multiprocess mode. Every worker writes
# its series to files in one folder and GET /metrics on any worker sums the files of all of them.
# The variable must be set before a worker imports prometheus_client: here, in the master, whose
# environment the workers inherit. The folder is new for each master (two masters on one host, as
# in the benchmark, must not share one; files left by an earlier run would add to the counts) and
# removed when the master exits; a dead worker's files stay (its counts are part of the totals)
# except its live gauges (database pool), which child_exit drops.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="jifen-metrics-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    _own_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _own_metrics_dir = None
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for name in os.listdir(folder):  # a folder given from outside may hold a previous run's files
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
