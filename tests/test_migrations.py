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


def _table_creations() -> list[tuple[str, str, str, bool]]:
    """(migration file, how, table, has a tenant_id column) for every table a migration creates."""
    import ast
    from pathlib import Path

    found = []
    for path in sorted((Path(__file__).resolve().parent.parent / "migrations" / "versions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            how = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if how not in ("create_table", "create_tenant_table", "create_platform_table"):
                continue
            tenant = any(isinstance(a, ast.Call) and a.args and isinstance(a.args[0], ast.Constant)
                         and a.args[0].value == "tenant_id" for a in node.args)
            found.append((path.name, how, node.args[0].value, tenant))
    return found


def test_every_migration_creates_tables_through_the_citus_helpers(app):
    """A table made with a bare `op.create_table` would stay a local table on a distributed Citus
    database, and a tenant table with foreign keys would fail there (platform/citus/distribute.py):
    every table goes through `create_tenant_table` or `create_platform_table`, the one Citus calls
    for what the schema says it is (the same rule `jifen db citus-init` follows)."""
    from jifen.platform.citus.distribute import expected

    with app.app_context():
        kinds = expected()
    creations = _table_creations()
    assert len(creations) > 80  # the scan sees the migrations
    wrong = []
    for file, how, table, tenant in creations:
        want = "create_tenant_table" if kinds.get(table, "distributed" if tenant else "reference") == "distributed" \
            else "create_platform_table"
        if how != want:
            wrong.append(f"{file}: {table} made with {how}, should be {want}")
    assert wrong == []
