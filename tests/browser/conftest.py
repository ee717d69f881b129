"""Fixtures for the real-browser tests: a fresh SQLite database, the real server in a subprocess,
and headless Chromium (the Debian package, never `playwright install`)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.steps import TypeSize
from tests.celery_worker import stop_worker

OPERATOR = {"username": "op", "password": "Quiet-Harbour-Operator-24!", "name": "运营员",
            "county": "紫金县", "county_slug": "zijin"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"


def _jifen() -> str:
    return str(Path(sys.executable).with_name("jifen"))


def run_jifen(env: dict, *args: str) -> str:
    """Run `jifen <args>` against the test database in `env`; fail the test on a non-zero exit,
    return its stdout."""
    done = subprocess.run([_jifen(), *args], env=env, cwd=env["_TMP"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"jifen {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_env(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("jifen")
    env = dict(os.environ)
    env.update({
        "JIFEN_DATABASE_URL": f"sqlite:///{tmp}/jifen.db",
        "JIFEN_SECRET_KEY": "test",
        "JIFEN_ARGON2_TIME_COST": "1",
        "JIFEN_ARGON2_MEMORY_COST": "8192",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("JIFEN_REDIS_URL", None)
    env.pop("JIFEN_CONFIG_FILE", None)
    env["_TMP"] = str(tmp)
    return env


@pytest.fixture(scope="session")
def live_server(server_env):
    """The real app on a free port, over a freshly migrated database with one county operator.

    Yields the base URL; the server's stderr goes to <tmp>/server.log (printed if start-up fails).
    """
    tmp = Path(server_env["_TMP"])
    run_jifen(server_env, "db", "upgrade")
    run_jifen(server_env, "create-operator", "--county", OPERATOR["county"], "--county-slug", OPERATOR["county_slug"],
              "--username", OPERATOR["username"], "--name", OPERATOR["name"], "--password", OPERATOR["password"])

    port = _free_port()
    log_path = tmp / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([_jifen(), "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"],
                            env=server_env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"server did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    try:
        yield base
    finally:
        stop_worker(proc, timeout=10)
        log.close()
        print(f"\n[live_server] log at {log_path}")


@pytest.fixture(scope="session")
def operator() -> dict:
    """The county operator created by `live_server`: username, password, name, county."""
    return dict(OPERATOR)


@pytest.fixture(scope="session")
def jifen_cli(server_env, live_server):
    """jifen_cli("list-townships", "--operator", "op") runs the console command against the live
    server's database and returns its stdout (a non-zero exit fails the test)."""
    return lambda *args: run_jifen(server_env, *args)


@pytest.fixture(scope="session")
def server_log(server_env) -> Path:
    return Path(server_env["_TMP"]) / "server.log"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def phone(browser, live_server):
    """A fresh phone-sized browser context (390x844, touch) with Chinese as the browser language."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                              is_mobile=True, has_touch=True, locale="zh-CN", base_url=live_server)
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    try:
        yield page
    finally:
        ctx.close()


@pytest.fixture(params=["standard", "large"])
def type_size(request, shot) -> TypeSize:
    """Issue 14's walk-throughs run twice at 390 px: in standard type and in large type (the
    elder's choice, made on the login page)."""
    return TypeSize(request.param == "large", shot)


@pytest.fixture(scope="session")
def shot():
    """shot(page, "01-county-login") saves a full-page PNG into tests/screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
