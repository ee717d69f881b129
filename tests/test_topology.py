"""docker-compose.yml's topology as processes, since Docker does not run in CI: nginx with compose's
server block (deploy/nginx.compose.conf) in front of two web processes (gunicorn with
deploy/gunicorn.conf.py, JIFEN_ENV=production), compose's two Celery workers (prefork, one on the
"nightly" queue, one on "notify,celery") and one beat, on the real PostgreSQL and Redis of the
services pass, started with compose's own commands.

What a deployment relies on: both webs are ready (PostgreSQL and Redis reached) and serve the same
pages with the same content-hashed static URLs; a nightly job (`run-job --via-worker`) runs on the
nightly worker and beat's notification round and outbox drain on the notify worker, never the
other way round; each worker serves its own metrics; beat keeps its schedule file fresh (what
compose's health check of beat reads); a web told to stop (SIGTERM, what `docker compose stop`
sends) exits within gunicorn's graceful timeout while the other goes on serving; nginx serves the
static files itself, gzipped, cached a year when versioned, proxies the rest to whichever web is up,
and gives the outside no /metrics. Only the addresses differ from compose (ports on 127.0.0.1, the
checkout's jifen/static/, files under the test's tmp)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis
import yaml
from cryptography.fernet import Fernet

from jifen.workers.ranking_jobs import NIGHTLY
from tests.celery_worker import READY_WITHIN
from tests.conftest import PG_URL, REDIS_URL, require

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None)
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
GRACEFUL = 5  # JIFEN_GRACEFUL_TIMEOUT here (compose: 30 s, with a 45 s stop grace)
METRICS_TOKEN = "topology-test-metrics-token"
WORKERS = ("worker", "notify-worker")  # compose's: nightly jobs; deliveries and the short tasks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5, **headers) -> tuple[int, str]:
    return _fetch(url, timeout, **headers)[:2]


def _fetch(url: str, timeout: float = 5, **headers):
    """(status, text, headers); a gzipped body is returned as it came (text is then "")."""
    request = urllib.request.Request(url, headers={k.replace("_", "-"): v for k, v in headers.items()})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            raw = resp.read()
            text = "" if resp.headers.get("Content-Encoding") else raw.decode("utf-8", "replace")
            return resp.status, text, resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace"), exc.headers


def _wait(predicate, within: float, what: str, logs=()):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} within {within}s\n" + "\n".join(p.read_text()[-3000:] for p in logs))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=GRACEFUL + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _compose_argv(command: list[str]) -> list[str]:
    """A compose command as a shell would run it here: `${VAR:-default}` is its default."""
    return [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", arg) for arg in command]


def _nginx_conf(folder: Path, port: int, web_ports: list[int]) -> Path:
    """compose's nginx: its server block as written, inside the http block the nginx image's
    nginx.conf gives it, with this machine's addresses and paths."""
    server = (ROOT / "deploy" / "nginx.compose.conf").read_text(encoding="utf-8")
    replacements = {
        "listen 80 default_server;": f"listen 127.0.0.1:{port} default_server;",
        "listen [::]:80 default_server;": "",
        "server web:8000 max_fails=3 fail_timeout=10s;": "".join(
            f"server 127.0.0.1:{p} max_fails=1 fail_timeout=10s; " for p in web_ports),
        "alias /srv/jifen/static/;": f"alias {ROOT}/jifen/static/;",
        "/var/log/nginx/access.log": str(folder / "access.log"),
    }
    for old, new in replacements.items():
        assert old in server, old
        server = server.replace(old, new)
    temp = "".join(f"{kind}_temp_path {folder}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = folder / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 64; }}
http {{
include /etc/nginx/mime.types;
default_type application/octet-stream;
{temp}
{server}
}}
""", encoding="utf-8")
    return conf


@pytest.fixture
def stack(app, world, database_url, tmp_path):
    require("PostgreSQL (JIFEN_TEST_DATABASE_URL)", bool(PG_URL))
    require("Redis (JIFEN_TEST_REDIS_URL)", bool(REDIS_URL))
    require("nginx (Debian: nginx-light; ./scripts/test installs it)", bool(NGINX))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")} | {
        "JIFEN_ENV": "production", "JIFEN_SECRET_KEY": "topology-test-secret",
        # production refuses to start without the ID-number keys (issue 12, personal data)
        "JIFEN_ID_KEYS": json.dumps([Fernet.generate_key().decode()]), "JIFEN_ID_HMAC_KEY": "topology-test-hmac-key",
        "JIFEN_DATABASE_URL": database_url, "JIFEN_REDIS_URL": REDIS_URL,
        "JIFEN_WORKERS": "1", "JIFEN_GRACEFUL_TIMEOUT": str(GRACEFUL), "JIFEN_ACCESSLOG": "off",
        "JIFEN_OUTBOX_DRAIN_SECONDS": "1", "JIFEN_NOTIFY_DELIVER_SECONDS": "1",
        "JIFEN_METRICS_TOKEN": METRICS_TOKEN, "PYTHONPATH": str(ROOT),
    }
    queue = redis.Redis.from_url(REDIS_URL)
    queue.flushdb()  # this process's own Redis database: nothing queued by an earlier test
    procs, logs = [], []

    def spawn(name: str, argv: list[str], **extra) -> subprocess.Popen:
        log = tmp_path / f"{name}.log"
        logs.append(log)
        proc = subprocess.Popen(argv, cwd=ROOT, env=env | extra, stdout=log.open("w"), stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    webs, web_ports = [], [_free_port(), _free_port()]
    try:
        for i, port in ((1, web_ports[0]), (2, web_ports[1])):  # compose's web command, each on its own port
            cmd = list(COMPOSE["web"]["command"])
            assert cmd[0] == "gunicorn"
            webs.append((spawn(f"web{i}", [str(BIN / "gunicorn"), *cmd[1:]], JIFEN_BIND=f"127.0.0.1:{port}"),
                         f"http://127.0.0.1:{port}", tmp_path / f"web{i}.log"))
        workers = {}
        for name in WORKERS:  # compose's commands as written (prefork, their queues), metrics on a free port
            cmd = _compose_argv(COMPOSE[name]["command"])
            assert cmd[:4] == ["celery", "-A", "jifen.workers.entry", "worker"] and "-Q" in cmd, cmd
            port = _free_port()
            spawn(name, [str(BIN / "celery"), *cmd[1:]], JIFEN_WORKER_METRICS_PORT=str(port))
            workers[name] = {"log": tmp_path / f"{name}.log", "metrics": f"http://127.0.0.1:{port}/metrics"}
        beat_cmd = COMPOSE["beat"]["command"]
        assert beat_cmd[:4] == ["celery", "-A", "jifen.workers.entry", "beat"]
        schedule = tmp_path / "var" / "celerybeat-schedule"
        schedule.parent.mkdir()
        beat_args = [a if not a.startswith("--schedule=") else f"--schedule={schedule}" for a in beat_cmd[1:]]
        beat = spawn("beat", [str(BIN / "celery"), *beat_args])
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        nginx_dir.chmod(0o777)  # nginx's workers (nobody, when the test runs as root) write temp files here
        nginx_port = _free_port()
        conf = _nginx_conf(nginx_dir, nginx_port, web_ports)
        check = subprocess.run([NGINX, "-t", "-q", "-c", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        spawn("nginx", [NGINX, "-c", str(conf), "-g", "daemon off;"])
        for _proc, url, log in webs:
            _wait(lambda url=url: _ready(url), 90, f"{url}/readyz answering 200", [log])
        for name, worker in workers.items():
            _wait(lambda log=worker["log"]: "ready" in log.read_text(), READY_WITHIN, f"{name} ready", [worker["log"]])
        nginx = f"http://127.0.0.1:{nginx_port}"
        _wait(lambda: _get(f"{nginx}/nginx-health")[0] == 200, 20, "nginx answering", [nginx_dir / "error.log"])
        yield {"webs": webs, "nginx": nginx, "workers": workers, "beat": beat, "schedule": schedule,
               "logs": logs}
    finally:
        for proc in procs:  # all at once, then wait: stopping takes each a few seconds
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            _stop(proc)
        queue.flushdb()  # beat's last publications must not reach a later test's worker


def _ready(url: str) -> bool:
    try:
        return _get(f"{url}/readyz", timeout=2)[0] == 200
    except OSError:
        return False


def test_two_webs_two_workers_and_one_beat_run_as_compose_runs_them(stack, make_app):
    (web1, url1, log1), (web2, url2, log2) = stack["webs"]
    # both webs: ready (PostgreSQL and Redis reached), the same page, the same versioned static URL
    pages = [_get(f"{url}/county/login") for url in (url1, url2)]
    assert [status for status, _ in pages] == [200, 200]
    links = [re.search(r'href="[^"]*(/static/jifen\.css\?v=[0-9a-f]{12})"', body)[1] for _, body in pages]
    assert links[0] == links[1]
    assert _get(url1 + links[0])[0] == 200

    # nginx in front: pages proxied; static files its own, gzipped, a year's cache when versioned
    status, body, _headers = _fetch(f"{stack['nginx']}/county/login")
    assert status == 200 and links[0] in body
    status, _body, headers = _fetch(stack["nginx"] + links[0], Accept_Encoding="gzip")
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "gunicorn" not in headers.get("Server", "")
    status, _body, headers = _fetch(f"{stack['nginx']}/static/jifen.css")
    assert status == 200 and headers["Cache-Control"] == "public, max-age=3600"
    assert _get(f"{stack['nginx']}/readyz")[0] == 200  # from 127.0.0.1: allowed
    # /metrics: Prometheus's, on the web itself with the token; nginx has none for the outside
    assert _get(f"{url1}/metrics", Authorization=f"Bearer {METRICS_TOKEN}")[0] == 200
    assert _get(f"{stack['nginx']}/metrics", Authorization=f"Bearer {METRICS_TOKEN}")[0] == 404

    # a nightly job, published as an operator does, runs on the nightly worker
    queued = make_app(REDIS_URL=REDIS_URL, TASKS_EAGER=False, CELERY=make_app().config["CELERY"] | {
        "broker_url": REDIS_URL, "result_backend": REDIS_URL, "task_always_eager": False})
    ran = queued.test_cli_runner().invoke(args=["run-job", NIGHTLY, "--tenant", "alpha", "--via-worker",
                                                "--timeout", "90"])
    assert ran.exit_code == 0 and "done (attempt 1" in ran.output, (ran.output, *(p.read_text()[-2000:] for p in stack["logs"]))
    # beat -> Redis -> the notify worker: the notification round and the outbox drain (every second here)
    nightly, notify = (stack["workers"][name]["log"] for name in WORKERS)
    for task in ("deliver_notifications", "outbox_drain"):
        _wait(lambda task=task: re.search(rf"Task jifen\.{task}\[[^\]]+\] succeeded", notify.read_text()),
              60, f"the notify worker running beat's jifen.{task}", stack["logs"])
    assert re.search(rf"Task {re.escape(NIGHTLY)}\[[^\]]+\] succeeded", nightly.read_text())
    assert f"Task {NIGHTLY}[" not in notify.read_text()  # each worker its own queues only
    assert not re.search(r"Task jifen\.(deliver_notifications|outbox_drain)\[", nightly.read_text())
    # each worker's own series on its own port: the job on one, the deliveries on the other
    series = {name: _get(stack["workers"][name]["metrics"])[1] for name in WORKERS}
    assert f'jifen_job_duration_seconds_count{{job="{NIGHTLY}",outcome="success"}}' in series["worker"]
    assert 'job="jifen.deliver_notifications",outcome="success"' in series["notify-worker"]
    assert "deliver_notifications" not in series["worker"]
    # beat writes its schedule file (compose's health check of beat: fresh within 10 minutes)
    _wait(lambda: any(p.name.startswith("celerybeat-schedule") for p in stack["schedule"].parent.iterdir()),
          30, "beat's schedule file", stack["logs"])
    assert stack["beat"].poll() is None

    # `docker compose stop web`: SIGTERM; gunicorn finishes within its graceful timeout, the other web serves on
    started = time.monotonic()
    web1.send_signal(signal.SIGTERM)
    web1.wait(timeout=GRACEFUL + 10)
    assert time.monotonic() - started < GRACEFUL + 5
    assert web1.returncode == 0, log1.read_text()[-2000:]
    assert _get(f"{url2}/readyz")[0] == 200
    assert [_get(f"{stack['nginx']}/county/login")[0] for _ in range(4)] == [200] * 4  # nginx: web2 only now
