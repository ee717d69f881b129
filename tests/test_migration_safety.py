"""Migrations that are safe to run on a live, large database.

1. Every migration waits at most `lock_timeout` for a lock on PostgreSQL (migrations/env.py sets it
   from JIFEN_MIGRATION_LOCK_TIMEOUT, default 5 s): an ALTER queued behind a long transaction fails
   instead of stalling every query on that table behind itself.
2. An index on a table that already exists (a table an earlier migration created: it may hold
   millions of rows) is built with `concurrent_index.build()` (jifen/platform/concurrent_index.py:
   CREATE INDEX CONCURRENTLY, so writes go on while it is built), and that call is all its
   migration's upgrade() does: the build commits what came before it, so a failure must leave the
   database at the revision before, and the rerun only retries the index (an INVALID leftover is
   dropped first). Indexes on a table created in the same migration are free to be plain.
3. A committed migration is never regenerated: its revision id stays in the chain. (Issue 12 moved
   three index builds out of theirs into index-only revisions right after them; every database
   ends with the same schema.)
"""
from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError

from jifen.platform.db import db

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"
RAW_INDEX = re.compile(r"\bCREATE\s+(UNIQUE\s+)?INDEX\s+(?P<concurrently>CONCURRENTLY\s+)?"
                       r"(IF\s+NOT\s+EXISTS\s+)?\S*\s*ON\s+(ONLY\s+)?\"?(?P<table>\w+)", re.IGNORECASE)


def _const(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _upgrade(source: str) -> ast.FunctionDef | None:
    tree = ast.parse(source)
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)


def _is_concurrent_build(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "build"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "concurrent_index")


TABLE_MAKERS = ("create_table", "create_tenant_table", "create_platform_table")  # the latter two: citus/distribute.py


def _called(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def unsafe_indexes(source: str) -> list[str]:
    """The indexes an `upgrade()` builds on a pre-existing table other than with
    `concurrent_index.build()`: each as "table: what", empty when the migration follows the rule."""
    upgrade_fn = _upgrade(source)
    if upgrade_fn is None:
        return []
    created = {_const(c.args[0]) for c in ast.walk(upgrade_fn)
               if isinstance(c, ast.Call) and c.args and _called(c) in TABLE_MAKERS}
    problems: list[str] = []

    def visit(node, batch_tables: dict[str, str]) -> None:
        if isinstance(node, ast.With):
            batch_tables = dict(batch_tables)
            for item in node.items:
                call = item.context_expr
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "batch_alter_table" and call.args
                        and isinstance(item.optional_vars, ast.Name)):
                    batch_tables[item.optional_vars.id] = _const(call.args[0])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr, owner = node.func.attr, node.func.value
            if attr == "create_index":
                if isinstance(owner, ast.Name) and owner.id in batch_tables:
                    table = batch_tables[owner.id]
                else:
                    kw = {k.arg: k.value for k in node.keywords}
                    table = _const(node.args[1]) if len(node.args) > 1 else _const(kw.get("table_name"))
                if table not in created:
                    problems.append(f"{table}: create_index instead of concurrent_index.build")
            elif attr == "execute" and node.args:
                arg = node.args[0]
                sql = _const(arg) or ("".join(_const(v) or "?" for v in arg.values)
                                      if isinstance(arg, ast.JoinedStr) else "")
                for m in RAW_INDEX.finditer(sql or ""):
                    if m["table"] not in created:
                        problems.append(f"{m['table']}: CREATE INDEX instead of concurrent_index.build")
        for child in ast.iter_child_nodes(node):
            visit(child, batch_tables)

    visit(upgrade_fn, {})
    return problems


def builds_with_company(source: str) -> bool:
    """Whether an `upgrade()` that builds an index concurrently does anything else as well."""
    upgrade_fn = _upgrade(source)
    if upgrade_fn is None or not any(_is_concurrent_build(n) for n in ast.walk(upgrade_fn)):
        return False
    body = [n for n in upgrade_fn.body if not (isinstance(n, ast.Expr) and _const(n.value) is not None)]  # docstring
    return not (len(body) == 1 and isinstance(body[0], ast.Expr) and _is_concurrent_build(body[0].value))


# Written before the rule (issue 12); a committed migration is never edited (rule 3), so these stay.
# Any other hit, in a migration written from now on, fails.
BEFORE_THE_RULE = {
    "20261128_a5e0c0de0005_rewards_orders_rankings_honours_.py": [
        "notifications: create_index instead of concurrent_index.build",
        "stock_movements: create_index instead of concurrent_index.build",
    ],
}


def test_every_migration_builds_indexes_on_existing_tables_concurrently():
    files = sorted(VERSIONS.glob("*.py"))
    assert files
    found = {f.name: unsafe_indexes(f.read_text(encoding="utf-8")) for f in files}
    assert {name: p for name, p in found.items() if p} == BEFORE_THE_RULE


PLAIN = '''
def upgrade():
    with op.batch_alter_table('ledger_postings', schema=None) as batch_op:
        batch_op.create_index('ix_postings_item', ['tenant_id', 'item_code'], unique=False)
    op.create_index('ix_orders_state', 'store_orders', ['tenant_id', 'state'])
    op.execute("CREATE INDEX ix_households_name ON households (tenant_id, head_name)")
'''
CONCURRENT_BY_HAND = '''
def upgrade():
    with op.get_context().autocommit_block():
        op.create_index('ix_orders_state', 'store_orders', ['tenant_id', 'state'], postgresql_concurrently=True)
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_households_name ON households (tenant_id, head_name)")
'''
SAFE = '''
def upgrade():
    op.create_table('gifts', sa.Column('id', sa.Integer()))
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.create_index('ix_gifts_id', ['id'], unique=False)
'''
ALONE = '''
def upgrade():
    """the index by state"""
    concurrent_index.build('ix_orders_state', 'store_orders', ['tenant_id', 'state'])
'''
# the shape c12a0priv001 had: DDL, then the build; a failed build left the DDL done and the version before
IN_COMPANY = '''
def upgrade():
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id_number_hmac', sa.String(length=64), nullable=True))
    concurrent_index.build('uq_residents_id_number_hmac', 'residents', ['tenant_id', 'id_number_hmac'])
'''
TWO_BUILDS = '''
def upgrade():
    concurrent_index.build('ix_orders_state', 'store_orders', ['tenant_id', 'state'])
    concurrent_index.build('ix_households_name', 'households', ['tenant_id', 'head_name'])
'''


def test_the_rule_catches_an_index_on_an_existing_table_not_built_by_the_helper():
    assert unsafe_indexes(PLAIN) == [
        "ledger_postings: create_index instead of concurrent_index.build",
        "store_orders: create_index instead of concurrent_index.build",
        "households: CREATE INDEX instead of concurrent_index.build",
    ]
    assert unsafe_indexes(CONCURRENT_BY_HAND) == [  # not rerunnable: an INVALID leftover "already exists"
        "store_orders: create_index instead of concurrent_index.build",
        "households: CREATE INDEX instead of concurrent_index.build",
    ]
    assert unsafe_indexes(SAFE) == unsafe_indexes(ALONE) == []


def test_a_migration_that_builds_an_index_concurrently_does_nothing_else():
    found = [f.name for f in sorted(VERSIONS.glob("*.py")) if builds_with_company(f.read_text(encoding="utf-8"))]
    assert found == []
    builders = [f.name for f in sorted(VERSIONS.glob("*.py")) if "concurrent_index.build(" in f.read_text(encoding="utf-8")]
    assert builders  # the check above is not vacuous
    assert not builds_with_company(ALONE) and not builds_with_company(SAFE)
    assert builds_with_company(IN_COMPANY) and builds_with_company(TWO_BUILDS)


def test_no_script_regenerates_a_committed_migration():
    root = VERSIONS.parent.parent
    assert not (root / "scripts" / "regen_migration.sh").exists()
    for script in (root / "scripts").iterdir():
        body = script.read_text(encoding="utf-8", errors="replace")
        assert "db migrate --rev-id" not in body and "rm -f migrations/versions" not in body, script.name


@pytest.mark.postgres
def test_a_migration_waiting_for_a_lock_gives_up_after_the_lock_timeout(ctx, monkeypatch):
    """Another transaction holds alembic_version: `jifen db upgrade` fails after about a second
    (JIFEN_MIGRATION_LOCK_TIMEOUT=1s) instead of waiting for it for ever."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("lock_timeout is a PostgreSQL setting")
    monkeypatch.setenv("JIFEN_MIGRATION_LOCK_TIMEOUT", "1s")
    holder = create_engine(db.engine.url)
    try:
        with holder.connect() as conn:
            conn.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            with pytest.raises(OperationalError, match="lock timeout"):
                upgrade()
            waited = time.monotonic() - started
            conn.rollback()
    finally:
        holder.dispose()
    assert 0.9 <= waited < 10, waited
    upgrade()  # once the lock is gone, the same command goes through


def test_a_malformed_lock_timeout_is_refused(monkeypatch):
    # env.py runs migrations when imported, so its lock_timeout() is compiled on its own
    monkeypatch.setenv("JIFEN_MIGRATION_LOCK_TIMEOUT", "5 seconds; DROP TABLE x")
    source = (VERSIONS.parent / "env.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lock_timeout")
    namespace = {"os": __import__("os"), "re": re, "DEFAULT_LOCK_TIMEOUT": "5s"}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "env.py", "exec"), namespace)  # noqa: S102
    with pytest.raises(SystemExit, match="JIFEN_MIGRATION_LOCK_TIMEOUT"):
        namespace["lock_timeout"]()
    monkeypatch.setenv("JIFEN_MIGRATION_LOCK_TIMEOUT", "250ms")
    assert namespace["lock_timeout"]() == "250ms"


# the last index-only revision before the head, and the index it builds
INDEX_REVISION, BEFORE_IT = "c13s1gnalix1", "c13s1gnals01"
INDEX, INDEXED_TABLE = "ix_activity_attendance_device", "activity_attendance"


def _revision() -> str:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def _pg_index(name: str) -> tuple[int, bool] | None:
    """(oid, valid) of index `name`, None when there is none."""
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT indexrelid::int, indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)"),
                           {"n": name}).first()
    return tuple(row) if row else None


@pytest.mark.postgres
def test_a_concurrent_index_build_that_failed_is_retried_by_the_next_upgrade(ctx, monkeypatch):
    """The drill: a REPEATABLE READ snapshot held open elsewhere makes CREATE INDEX CONCURRENTLY
    wait past the lock timeout. The upgrade fails, the database stays at the revision before (with
    the index left INVALID); once the snapshot is gone the same upgrade builds it, valid."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("CREATE INDEX CONCURRENTLY is PostgreSQL's")
    db.session.remove()
    downgrade(revision=BEFORE_IT)
    assert _pg_index(INDEX) is None
    monkeypatch.setenv("JIFEN_MIGRATION_LOCK_TIMEOUT", "1s")
    holder = create_engine(db.engine.url, isolation_level="REPEATABLE READ")
    try:
        with holder.connect() as conn:
            conn.execute(text("SELECT count(*) FROM tenants"))  # the snapshot is taken and kept
            with pytest.raises(OperationalError, match="lock timeout"):
                upgrade(revision=INDEX_REVISION)
            assert _revision() == BEFORE_IT
            assert _pg_index(INDEX)[1] is False  # what a failed concurrent build leaves
            conn.rollback()
    finally:
        holder.dispose()
    upgrade(revision=INDEX_REVISION)
    assert _revision() == INDEX_REVISION
    assert _pg_index(INDEX)[1] is True
    upgrade()


def test_a_database_that_already_has_the_index_upgrades_without_building_it_again(ctx):
    """A database that ran the index's old migration (which built it inline) and stopped there:
    the index-only revision finds it and leaves it as it is."""
    db.session.remove()
    downgrade(revision=BEFORE_IT)
    with db.engine.begin() as conn:  # what the old c13s1gnals01 built
        conn.execute(text(f"CREATE INDEX {INDEX} ON {INDEXED_TABLE} (tenant_id, device_hash) "
                          "WHERE device_hash IS NOT NULL"))
    before = _pg_index(INDEX) if db.engine.dialect.name == "postgresql" else None
    upgrade()
    assert INDEX in {i["name"] for i in inspect(db.engine).get_indexes(INDEXED_TABLE)}
    if before:
        assert _pg_index(INDEX) == before  # the same index, not rebuilt
