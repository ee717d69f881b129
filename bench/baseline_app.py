"""The baseline the benchmark compares Jifen against: bare Flask + Flask-SQLAlchemy, one ORM get
of one row by primary key per request, answered as JSON. Nothing else: no tenancy, no auth, no
templates. Same database, same table (`villages`), same engine options, same gunicorn settings.

    JIFEN_DATABASE_URL=postgresql+psycopg://... \
        gunicorn -c deploy/gunicorn.conf.py --pythonpath bench "baseline_app:create_app()"

GET /villages/<tenant_id>/<village_id>  ->  {"id", "name", "code", "sort_order"}
GET /households/<tenant_id>/<household_id>  ->  {"id", "door_plate", "head_name", "status"}
(the second for random rows of a large township: 30 villages would all sit in every cache)

The engine options (pool settings) are read from Jifen's configuration defaults, so both sides
always talk to PostgreSQL the same way; nothing else of Jifen is used.
"""
from __future__ import annotations

import os
import uuid

from flask import Flask, abort
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _engine_options() -> dict:
    from jifen.platform.config import defaults

    return dict(defaults("")["SQLALCHEMY_ENGINE_OPTIONS"])


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Village(db.Model):
    __tablename__ = "villages"
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    sort_order: Mapped[int]


class Household(db.Model):
    __tablename__ = "households"
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    door_plate: Mapped[str] = mapped_column(String(100))
    head_name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))


def create_app() -> Flask:
    app = Flask(__name__)
    url = os.environ["JIFEN_DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options()  # the same as Jifen's
    db.init_app(app)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/villages/<uuid:tenant_id>/<uuid:village_id>")
    def village(tenant_id, village_id):
        v = db.session.get(Village, (tenant_id, village_id))
        if v is None:
            abort(404)
        return {"id": str(v.id), "name": v.name, "code": v.code, "sort_order": v.sort_order}

    @app.get("/households/<uuid:tenant_id>/<uuid:household_id>")
    def household(tenant_id, household_id):
        h = db.session.get(Household, (tenant_id, household_id))
        if h is None:
            abort(404)
        return {"id": str(h.id), "door_plate": h.door_plate, "head_name": h.head_name, "status": h.status}

    return app
