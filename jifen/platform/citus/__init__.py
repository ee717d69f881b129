"""Jifen on Citus (`JIFEN_CITUS=1`): townships spread over worker nodes by `tenant_id`.

What holds on a distributed database (`jifen db citus-init` makes it so, `citus.distribute.status`
checks it):
1. Every table of a township's rows (`tenancy.tenant_tables()`) is distributed by `tenant_id`, all
   colocated with `ANCHOR`: one township's rows of every table sit in one shard group, on one
   worker. A query the tenant guard scoped (`tenant_id = :current` on every table it names) goes to
   that one worker, and joins and foreign keys between tenant tables stay on it.
2. Every other table of the schema (counties, tenants, operators and their sessions and tokens,
   the county's records) is a reference table: a copy on every node, so tenant tables keep their
   foreign keys to `tenants` and a join with it stays local. `alembic_version` stays on the
   coordinator alone.
3. A statement that reads or writes more than one township's shard ("fans out") is deliberate and
   bounded, and named in `citus.fan_out.ALLOWED`; any other is reported (`fan_out.watch`).

Modules: `distribute` (citus-init and the migrations' `create_tenant_table`), `placement` (a new
township on the least-loaded worker, moving a township), `fan_out` (the list and the watch).
"""
from __future__ import annotations

from sqlalchemy import text

ANCHOR = "users"  # the tenant table every other one is colocated with (every township has users)


class CitusError(RuntimeError):
    """The database is not (or not wholly) what a Citus operation needs; the message says what."""


def installed(conn) -> bool:
    """The citus extension is created in this database (never true on SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).scalar())


def distributed(conn) -> bool:
    """`citus-init` has run here: the anchor table is distributed. Until then (a plain PostgreSQL,
    or a Citus database still being migrated for the first time) tables are created plainly."""
    if not installed(conn):
        return False
    return bool(conn.execute(text("SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass(CAST(:t AS text))"),
                             {"t": ANCHOR}).scalar())
