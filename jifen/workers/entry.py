"""Worker and beat entry point: `celery -A jifen.workers.entry worker` / `... beat`.

Logging: Celery leaves the logging set-up to the app (its `setup_logging` signal has a receiver),
so worker and beat write the same lines as the web (JSON in production, `JIFEN_LOG_FORMAT`,
`JIFEN_LOG_LEVEL`; Celery's `--loglevel` is not used).

Metrics: with `JIFEN_WORKER_METRICS_PORT` set, the worker serves its series (job durations and
outcomes, outbox and delivery counters, its database pools) at http://<host>:<port>/metrics, in
multiprocess mode so that what its prefork children record is summed (a folder of its own is made
when `PROMETHEUS_MULTIPROC_DIR` is not set; it must be set before prometheus_client is imported,
hence here, first). See deploy/README.md, "Metrics".
"""
import atexit
import os
import shutil
import tempfile

METRICS_PORT = os.environ.get("JIFEN_WORKER_METRICS_PORT", "").strip()
if METRICS_PORT and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="jifen-worker-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

from celery.signals import setup_logging, worker_init, worker_process_shutdown  # noqa: E402

from jifen import create_app  # noqa: E402
from jifen.platform import logs, metrics  # noqa: E402

flask_app = create_app()
celery = flask_app.extensions["celery"]


@setup_logging.connect
def _logging(**_kwargs):
    logs.configure(flask_app.config)


@worker_init.connect
def _serve_metrics(**_kwargs):
    if METRICS_PORT:
        addr = os.environ.get("JIFEN_WORKER_METRICS_ADDR", "0.0.0.0").strip() or "0.0.0.0"
        metrics.serve_worker_metrics(flask_app, int(METRICS_PORT), addr)
        flask_app.logger.info("worker metrics at http://%s:%s/metrics", addr, METRICS_PORT)


@worker_process_shutdown.connect
def _process_gone(pid=None, **_kwargs):
    if metrics.multiprocess():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
