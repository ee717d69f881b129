"""/healthz: the process answers. /readyz: the database and (when configured) Redis answer, and on
Citus (`JIFEN_CITUS=1`) the database is distributed."""
from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import text

from jifen.platform.db import db
from jifen.platform.web import public

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@public
def readyz():
    checks, ok = {}, True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, don't crash: this is the check
        checks["database"], ok = f"error: {type(exc).__name__}", False
    if current_app.config["CITUS"] and ok:  # a coordinator not yet distributed must not take traffic
        from jifen.platform.citus import distributed

        if distributed(db.session.connection()):
            checks["citus"] = "ok"
        else:
            checks["citus"], ok = "error: the database is not distributed (jifen db citus-init)", False
    url = current_app.config.get("REDIS_URL")
    if url:
        import redis

        try:
            redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"], ok = f"error: {type(exc).__name__}", False
    return {"status": "ok" if ok else "unavailable", "checks": checks}, (200 if ok else 503)
