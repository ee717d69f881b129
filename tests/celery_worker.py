"""A real Celery worker process for the services tests: started, waited for, always stopped.

One place for it: a worker that never got ready is stopped before the failure is raised, since a
stray worker on the shared Redis database would take the tasks of the tests that follow.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

READY_WITHIN = 120  # seconds; a loaded 2-core CI machine needs more than a quiet one


def start_worker(database_url: str, redis_url: str, log: Path, *, pool: str = "solo",
                 args: tuple = ("--without-gossip", "--without-mingle", "--without-heartbeat"), **env_extra) -> subprocess.Popen:
    env = os.environ | {"JIFEN_DATABASE_URL": database_url, "JIFEN_REDIS_URL": redis_url,
                        "JIFEN_SECRET_KEY": "test-secret", "JIFEN_ARGON2_TIME_COST": "1",
                        "JIFEN_ARGON2_MEMORY_COST": "8192"} | env_extra
    env.pop("JIFEN_ENV", None)
    celery = Path(sys.executable).with_name("celery")
    proc = subprocess.Popen([str(celery), "-A", "jifen.workers.entry", "worker", f"--pool={pool}",
                             "--loglevel=INFO", *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline and "ready" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        assert "ready" in log.read_text(), log.read_text()
    except BaseException:
        stop_worker(proc)
        raise
    return proc


def stop_worker(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Ask the process to stop; kill it if it has not within `timeout` seconds (any test process:
    the browser tests' server too)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

