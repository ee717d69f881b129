"""Migrations that are safe to run on a live, large database.

1. Every migration waits at most `lock_timeout` for a lock on PostgreSQL (migrations/env.py sets it
   from JIFEN_MIGRATION_LOCK_TIMEOUT, default 5 s): an ALTER queued behind a long transaction fails
   instead of stalling every query on that table behind itself.
2. An index on a table that already exists (a table an earlier migration created: it may hold
   millions of rows) is built with CREATE INDEX CONCURRENTLY, inside
   `with op.get_context().autocommit_block():`, so writes go on while it is built. Indexes on a
   table created in the same migration are free to be plain.
3. A committed migration is never regenerated or edited: its revision id stays in the chain.
"""
from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from jifen.platform.db import db

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"
RAW_INDEX = re.compile(r"\bCREATE\s+(UNIQUE\s+)?INDEX\s+(?P<concurrently>CONCURRENTLY\s+)?"
                       r"(IF\s+NOT\s+EXISTS\s+)?\S*\s*ON\s+(ONLY\s+)?\"?(?P<table>\w+)", re.IGNORECASE)


def _const(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_autocommit_block(item: ast.withitem) -> bool:
    call = item.context_expr
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "autocommit_block"


def unsafe_indexes(source: str) -> list[str]:
    """The indexes an `upgrade()` builds on a pre-existing table without CONCURRENTLY (in an
    autocommit block): each as "table: what", empty when the migration follows the rule."""
    tree = ast.parse(source)
    upgrade_fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)
    if upgrade_fn is None:
        return []
    created = {_const(c.args[0]) for c in ast.walk(upgrade_fn)
               if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "create_table"
               and c.args}
    problems: list[str] = []

    def visit(node, batch_tables: dict[str, str], autocommit: bool) -> None:
        if isinstance(node, ast.With):
            batch_tables = dict(batch_tables)
            for item in node.items:
                autocommit = autocommit or _is_autocommit_block(item)
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
                    kw = {k.arg: k.value for k in node.keywords}
                    concurrent = isinstance(kw.get("postgresql_concurrently"), ast.Constant) and \
                        kw["postgresql_concurrently"].value is True
                    if not concurrent:
                        problems.append(f"{table}: create_index without postgresql_concurrently=True")
                    elif not autocommit:
                        problems.append(f"{table}: concurrent create_index outside op.get_context().autocommit_block()")
            elif attr == "execute" and node.args:
                arg = node.args[0]
                sql = _const(arg) or ("".join(_const(v) or "?" for v in arg.values)
                                      if isinstance(arg, ast.JoinedStr) else "")
                for m in RAW_INDEX.finditer(sql or ""):
                    if m["table"] in created:
                        continue
                    if not m["concurrently"]:
                        problems.append(f"{m['table']}: CREATE INDEX without CONCURRENTLY")
                    elif not autocommit:
                        problems.append(f"{m['table']}: CREATE INDEX CONCURRENTLY outside an autocommit block")
        for child in ast.iter_child_nodes(node):
            visit(child, batch_tables, autocommit)

    visit(upgrade_fn, {}, False)
    return problems


# Written before the rule (issue 12); a committed migration is never edited (rule 3), so these stay.
# Any other hit, in a migration written from now on, fails.
BEFORE_THE_RULE = {
    "20261128_a5e0c0de0005_rewards_orders_rankings_honours_.py": [
        "notifications: create_index without postgresql_concurrently=True",
        "stock_movements: create_index without postgresql_concurrently=True",
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
CONCURRENT_OUTSIDE_BLOCK = '''
def upgrade():
    op.create_index('ix_orders_state', 'store_orders', ['tenant_id', 'state'], postgresql_concurrently=True)
'''
SAFE = '''
def upgrade():
    op.create_table('gifts', sa.Column('id', sa.Integer()))
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.create_index('ix_gifts_id', ['id'], unique=False)
    with op.get_context().autocommit_block():
        op.create_index('ix_orders_state', 'store_orders', ['tenant_id', 'state'], postgresql_concurrently=True)
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_households_name ON households (tenant_id, head_name)")
'''


def test_the_rule_catches_a_plain_index_on_an_existing_table_and_passes_the_safe_forms():
    assert unsafe_indexes(PLAIN) == [
        "ledger_postings: create_index without postgresql_concurrently=True",
        "store_orders: create_index without postgresql_concurrently=True",
        "households: CREATE INDEX without CONCURRENTLY",
    ]
    assert unsafe_indexes(CONCURRENT_OUTSIDE_BLOCK) == [
        "store_orders: concurrent create_index outside op.get_context().autocommit_block()"]
    assert unsafe_indexes(SAFE) == []


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
