"""gunicorn's own log lines are JSON in production, like the app's (issue 12, observability).

gunicorn is started as a real process with compose's web command and production settings; one of
its workers is frozen (SIGSTOP) until gunicorn declares it timed out and boots another. Every line
on its stderr ("Booting worker", "WORKER TIMEOUT", the SIGKILL of the frozen worker, shutting down)
and every access-log line on its stdout must parse as JSON with a level and a message.

The database and Redis addresses are unreachable on purpose: production refuses to start without
them, but booting a worker and /healthz need neither (so this runs in the SQLite pass too)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from cryptography.fernet import Fernet

from jifen.platform import logs
from jifen.platform.logs import gunicorn_logconfig
from tests.test_topology import _free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TIMEOUT = 2  # JIFEN_TIMEOUT: seconds before gunicorn kills a silent worker


def _json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{text[-3000:]}") from None
        assert isinstance(entry, dict) and entry.get("level") and "message" in entry, line
        parsed.append(entry)
    return parsed


def _wait_for(path: Path, pattern: str, within: float, after: int = 0) -> re.Match:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text()[after:])
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} within {within}s in\n{path.read_text()[-3000:]}")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_gunicorn_writes_json_lines_in_production(tmp_path):
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["web"]["command"]
    assert command[0] == "gunicorn"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")} | {
        "JIFEN_ENV": "production", "JIFEN_SECRET_KEY": "gunicorn-log-test-secret",
        "JIFEN_ID_KEYS": json.dumps([Fernet.generate_key().decode()]), "JIFEN_ID_HMAC_KEY": "gunicorn-log-test-hmac",
        "JIFEN_DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:9/none", "JIFEN_REDIS_URL": "redis://127.0.0.1:9/0",
        "JIFEN_BIND": f"127.0.0.1:{port}", "JIFEN_WORKERS": "1", "JIFEN_TIMEOUT": str(TIMEOUT),
        "JIFEN_GRACEFUL_TIMEOUT": "3", "PYTHONPATH": str(ROOT),
    }
    err, out = tmp_path / "stderr.log", tmp_path / "stdout.log"
    with err.open("w") as err_file, out.open("w") as out_file:
        proc = subprocess.Popen([str(BIN / "gunicorn"), *command[1:]], cwd=ROOT, env=env,
                                stdout=out_file, stderr=err_file)
    try:
        first = int(_wait_for(err, r"Booting worker with pid: (\d+)", 60)[1])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(f"http://127.0.0.1:{port}/healthz") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        assert _get(f"http://127.0.0.1:{port}/county/login") == 200
        _wait_for(out, r"GET /county/login", 10)  # the access line is written after the answer is sent
        # a worker that stops answering: gunicorn times it out, kills it and boots another
        os.kill(first, signal.SIGSTOP)
        _wait_for(err, rf"WORKER TIMEOUT \(pid:{first}\)", TIMEOUT + 20)
        second = int(_wait_for(err, rf"Booting worker with pid: (?!{first}\b)(\d+)", 60)[1])
        assert second != first
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    errors = _json_lines(err.read_text())
    messages = [e["message"] for e in errors]
    assert any(m.startswith("Starting gunicorn") for m in messages)
    assert sum(m.startswith("Booting worker") for m in messages) >= 2
    timeout = next(e for e in errors if e["message"].startswith("WORKER TIMEOUT"))
    assert timeout["level"] == "CRITICAL" and timeout["logger"] == "gunicorn.error"
    assert any(m.startswith("Shutting down") for m in messages)
    access = _json_lines(out.read_text())  # the access log: JSON too, on stdout
    assert any('"GET /county/login HTTP/1.1" 200' in e["message"] and "rid=" in e["message"] for e in access)
    assert {e["logger"] for e in access} == {"gunicorn.access"}


def test_gunicorn_follows_the_apps_log_format_and_can_drop_its_access_log():
    production = gunicorn_logconfig("info", None, {"JIFEN_ENV": "production"})
    assert production["formatters"]["jifen"]["fmt"] == "json"
    assert production["loggers"]["gunicorn.access"]["handlers"] == []  # JIFEN_ACCESSLOG=off
    development = gunicorn_logconfig("warning", "-", {})
    assert development["formatters"]["jifen"]["fmt"] == "text"
    assert development["loggers"]["gunicorn.error"]["level"] == "WARNING"
    forced = gunicorn_logconfig("info", "-", {"JIFEN_ENV": "production", "JIFEN_LOG_FORMAT": "text"})
    assert forced["formatters"]["jifen"]["fmt"] == "text"
    factory = development["formatters"]["jifen"]
    assert factory["()"] == f"{logs.formatter_for.__module__}.formatter_for"  # the app's, not a copy
    assert isinstance(logs.formatter_for(factory["fmt"]), logs.TextFormatter)
