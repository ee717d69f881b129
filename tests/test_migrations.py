"""The schema comes from the migrations: they match the models, and downgrade/upgrade round-trips."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from jifen.platform.db import TenantOwned, db


def _diff():
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        return compare_metadata(ctx, db.metadata)


def test_migrations_match_the_models(ctx):
    assert _diff() == [], "models changed without a migration: run `jifen db migrate -m ...`"


def test_downgrade_to_base_and_upgrade_again(ctx):
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert _diff() == []


def test_every_tenant_table_keys_on_tenant_id_first(ctx):
    insp = inspect(db.engine)
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        if not issubclass(cls, TenantOwned):
            continue
        table = cls.__tablename__
        assert insp.get_pk_constraint(table)["constrained_columns"][0] == "tenant_id", table
        for uq in insp.get_unique_constraints(table):
            assert uq["column_names"][0] == "tenant_id", (table, uq)
        for fk in insp.get_foreign_keys(table):
            if fk["referred_table"] != "tenants":
                assert fk["constrained_columns"][0] == "tenant_id", (table, fk)
        col = next(c for c in insp.get_columns(table) if c["name"] == "tenant_id")
        assert col["nullable"] is False
