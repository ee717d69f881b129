"""Turning a migrated database into a distributed one (`jifen db citus-init`), and creating tables
in later migrations so that they join it (`create_tenant_table`, `create_platform_table`).

Why the foreign keys are dropped and restored: Citus distributes one table at a time, and refuses
a table while a key joins it to a table that is still local ("foreign keys from reference tables and
local tables to distributed tables are not supported": 54 of 69 tenant tables at the first try).
So `init` drops every key of the schema, makes the reference and distributed tables, and adds the
same keys back (Citus then creates each on every shard), all in one transaction in sequential
multi-shard mode (keys to reference tables need it). A crash rolls the whole of it back.

Why `citus.enable_unsafe_triggers`: Citus distributes a table with triggers only when told they are
safe on shards. The one trigger (`audit_entries_append_only`) reads nothing and refuses UPDATE and
DELETE of its own row, so it is: it then guards every shard of the audit table.

The caller owns the transaction (the CLI command commits; a migration is in Alembic's).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from alembic.operations.schemaobj import SchemaObjects
from sqlalchemy import text
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from jifen.platform.citus import ANCHOR, CitusError, distributed, installed

LOCAL_TABLES = frozenset({"alembic_version"})  # the coordinator's alone


@dataclass
class Status:
    """What each table of the schema is on this database, against what it should be."""

    wrong: dict = field(default_factory=dict)  # table -> what it is ("local", "reference", ...)
    right: list = field(default_factory=list)
    unknown: list = field(default_factory=list)  # tables Jifen's schema does not name
    missing: list = field(default_factory=list)  # tables of the schema not in the database

    @property
    def state(self) -> str:
        if not self.right:
            return "plain"
        return "distributed" if not self.wrong else "partial"


def expected() -> dict:
    """table -> "distributed" or "reference", from the schema (the one rule: tenancy.tenant_tables)."""
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_tables

    tenant = {t.name for t in tenant_tables()}
    return {t.name: ("distributed" if t.name in tenant else "reference") for t in db.metadata.sorted_tables}


def status(conn) -> Status:
    """Each table of the schema checked against `expected()`; a distributed table is right only if
    it is hash-distributed by tenant_id in the anchor's colocation group."""
    want = expected()
    present = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    found = {}
    if installed(conn):
        found = {name: (kind, column, group) for name, kind, column, group in conn.execute(text(
            "SELECT table_name::text, citus_table_type, distribution_column, colocation_id FROM citus_tables"))}
    anchor_group = found.get(ANCHOR, (None, None, None))[2]
    st = Status(unknown=sorted(present - set(want) - LOCAL_TABLES), missing=sorted(set(want) - present))
    for name in sorted(set(want) & present):
        kind, column, group = found.get(name, ("local", None, None))
        if want[name] == "reference":
            ok = kind == "reference"
        else:
            ok = kind == "distributed" and column == "tenant_id" and group == anchor_group
        if ok:
            st.right.append(name)
        else:
            st.wrong[name] = kind if kind != "distributed" else f"distributed by {column} in group {group}"
    return st


def init(conn) -> str:
    """Distribute a migrated database: reference tables, tenant tables by tenant_id colocated with
    the anchor, every foreign key restored. Returns what it did. Idempotent: on a distributed
    database it does nothing; on a half-distributed one (someone else's hand) it refuses, naming
    the tables, rather than guess."""
    if not installed(conn):
        raise CitusError("the citus extension is not created in this database (CREATE EXTENSION citus; "
                         "then add the workers with citus_add_node)")
    workers = conn.execute(text("SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND isactive "
                                "AND groupid <> 0")).scalar()
    if not workers:
        raise CitusError("the cluster has no worker node (SELECT citus_add_node(host, port) on the coordinator)")
    st = status(conn)
    if st.missing:
        raise CitusError(f"the database is not migrated (missing {', '.join(st.missing)}): run `jifen db upgrade` first")
    if st.unknown:
        raise CitusError(f"tables Jifen's schema does not name: {', '.join(st.unknown)}; drop or classify them first")
    if st.state == "distributed":
        return f"already distributed: {len(st.right)} tables, nothing done"
    if st.state == "partial":
        raise CitusError("half distributed, refused: " + ", ".join(f"{t} is {k}" for t, k in sorted(st.wrong.items()))
                         + f" (right already: {', '.join(st.right)})")
    want = expected()
    conn.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
    conn.execute(text("SET LOCAL citus.enable_unsafe_triggers TO on"))  # see the module's docstring
    keys = conn.execute(text(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY conrelid::regclass::text, conname"
    )).all()
    for table, name, _ in keys:
        conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
    references = [t for t, kind in want.items() if kind == "reference"]
    tenant = [ANCHOR] + [t for t, kind in want.items() if kind == "distributed" and t != ANCHOR]
    for table in references:
        _with_rows_moved(conn, table, "SELECT create_reference_table(:t)", {"t": table})
    for table in tenant:
        _with_rows_moved(conn, table, "SELECT create_distributed_table(:t, 'tenant_id', colocate_with => :with)",
                         {"t": table, "with": "none" if table == ANCHOR else ANCHOR})
    for table, name, definition in keys:
        conn.execute(text(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'))
    after = status(conn)
    if after.state != "distributed":  # cannot happen unless Citus changed its catalog: say so, roll back
        raise CitusError(f"after distributing, still wrong: {after.wrong}")
    return (f"distributed: {len(references)} reference tables, {len(tenant)} tenant tables by tenant_id "
            f"colocated with {ANCHOR}, {len(keys)} foreign keys restored, on {workers} workers")


def _with_rows_moved(conn, table: str, sql: str, params: dict) -> None:
    """Distribute a table; rows it already held (a single-node database brought over) are copied into
    the shards by Citus, and the coordinator's local copy is then emptied so it is not kept twice."""
    had_rows = conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM ONLY "{table}")')).scalar()
    conn.execute(text(sql), params)
    if had_rows:
        conn.execute(text("SELECT truncate_local_data_after_distributing_table(:t)"), {"t": table})


# --- migrations ------------------------------------------------------------------------------------
# Every table a migration creates goes through one of these two (tests/test_migrations.py fails on a
# bare `op.create_table`). On SQLite, PostgreSQL and a Citus database not yet distributed (first
# install: migrate, then citus-init) they are `op.create_table`; on a distributed database they make
# the table the Citus way, keys last.

def create_tenant_table(name: str, *elements, **kw):
    """A table of a township's rows (it must have `tenant_id`): distributed by it, colocated."""
    return _create(name, elements, kw, "SELECT create_distributed_table(:t, 'tenant_id', colocate_with => :with)",
                   tenant=True)


def create_platform_table(name: str, *elements, **kw):
    """A table of the platform or the county (no township's rows): a reference table."""
    return _create(name, elements, kw, "SELECT create_reference_table(:t)", tenant=False)


def _create(name: str, elements, kw, distribute_sql: str, tenant: bool):
    from alembic import op

    has_tenant = any(getattr(e, "name", None) == "tenant_id" for e in elements)
    if tenant and not has_tenant:
        raise CitusError(f"{name}: a tenant table needs a tenant_id column (else create_platform_table)")
    if op.get_context().as_sql:  # `jifen db upgrade --sql`: a script for a plain database, nothing to ask
        return op.create_table(name, *elements, **kw)
    bind = op.get_bind()
    if not distributed(bind):
        return op.create_table(name, *elements, **kw)
    # built as op.create_table builds it (the naming convention, stub tables for the keys' targets)
    table = SchemaObjects(op.get_context()).table(name, *elements, **kw)
    keys = list(table.foreign_key_constraints)
    bind.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
    bind.execute(CreateTable(table, include_foreign_key_constraints=[]))
    for index in table.indexes:
        bind.execute(CreateIndex(index))
    bind.execute(text(distribute_sql), {"t": name, "with": ANCHOR})
    for key in keys:
        bind.execute(AddConstraint(key))
    return table
