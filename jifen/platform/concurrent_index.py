"""Indexes on large, written-to tables, built by migrations without stopping writes and safe to rerun.

CREATE INDEX CONCURRENTLY cannot run in a transaction, so it runs in alembic's autocommit block,
which first commits everything the upgrade did before it. A build that fails (typically on the
migration lock timeout, waiting for an old snapshot to end) leaves the index behind INVALID, and a
plain retry would then stop on "already exists". Hence two rules (tests/test_migration_safety.py):

- `build()` drops an INVALID index of the same name before building, and does nothing when a valid
  one exists: running it again is always right.
- it is the only thing its migration's upgrade() does, so a failure leaves the database at the
  revision before it, with nothing else half done, and `jifen db upgrade` retries just the index.

On SQLite (development, tests) they simply create the index (unless it exists) or drop it.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def _valid(bind, name: str) -> bool | None:
    """Whether index `name` (in the search path) is valid; None when there is none."""
    return bind.execute(sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)"),
                        {"n": name}).scalar()


def build(name: str, table: str, columns: list[str], *, unique: bool = False, where: str | None = None) -> None:
    """Index `name` on `table` (partial when `where` is given), built CONCURRENTLY on PostgreSQL."""
    predicate = sa.text(where) if where else None
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(name, table, columns, unique=unique, sqlite_where=predicate, if_not_exists=True)
        return
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        valid = _valid(bind, name)
        if valid:
            return
        if valid is False:  # left by an earlier try that failed
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(name, table, columns, unique=unique, postgresql_where=predicate,
                        postgresql_concurrently=True)


def drop(name: str, table: str) -> None:
    """The downgrade of `build()`: DROP INDEX CONCURRENTLY on PostgreSQL."""
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
