"""The restore drill of deploy/README.md ("Backup and restore"), run by CI in the PostgreSQL pass at
the end of tests/test_demo_points.py, on the demo that test has just loaded (so the drill costs
no demo load of its own): `pg_dump -Fc`, `pg_restore` into a new database, and there
`jifen audit verify` and `jifen points check-balances` pass and every table holds what the
original held. The backup itself holds none of the given secrets (the demo's ID numbers) in plain
text."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from jifen.platform.db import db


def _libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _contents(url) -> dict:
    """Every table's row count, and the schema revision."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                      for t in sorted(inspect(conn).get_table_names())}
            counts["alembic_version"] = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            return counts
    finally:
        engine.dispose()


def _plain_secrets(dump, secrets: set[str]) -> list[str]:
    """Which of `secrets` (the demo's ID numbers) the backup holds in plain text: the dump written
    out as SQL (the custom format is compressed, so its bytes prove nothing), searched line by line."""
    sql = subprocess.run(["pg_restore", "--file=-", str(dump)], check=True, capture_output=True, timeout=300).stdout
    text_ = sql.decode("utf-8", errors="replace")
    return sorted(s for s in secrets if s in text_)


def run(make_app, tmp_path, tenant_slug: str, secrets: set[str] = frozenset()) -> None:
    for tool in ("pg_dump", "pg_restore"):
        assert shutil.which(tool), f"{tool} is needed (Debian: postgresql-client)"
    db.session.commit()  # the last writes, visible to pg_dump's own connection
    source = make_url(db.engine.url)
    restored = source.set(database=f"{source.database}_restored")
    admin = create_engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
    dump = tmp_path / "jifen.dump"
    other = None
    try:
        # 1. back up: the custom format (compressed, restorable table by table)
        subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), _libpq(source)],
                       check=True, capture_output=True, text=True, timeout=300)
        # the backup holds no ID number in plain text (they are sealed at rest); the search does
        # see plain data (the township's slug is there)
        assert _plain_secrets(dump, secrets | {tenant_slug}) == [tenant_slug]
        # 2. restore into a new, empty database
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{restored.database}"'))
        done = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", _libpq(restored),
                               str(dump)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        # 3. the restored database holds every row at the same schema revision...
        original = _contents(source)
        assert original["ledger_transactions"] > 100 and original["audit_entries"] > 100, original
        assert _contents(restored) == original
        # ...and Jifen's own checks pass on it (the commands, run by an app on the restored database)
        other = make_app(SQLALCHEMY_DATABASE_URI=restored.render_as_string(hide_password=False))
        verify = other.test_cli_runner().invoke(args=["audit", "verify"])
        assert verify.exit_code == 0, verify.output
        assert f"{tenant_slug}: " in verify.output and "BROKEN" not in verify.output
        balances = other.test_cli_runner().invoke(args=["points", "check-balances"])
        assert balances.exit_code == 0, balances.output
        assert f"{tenant_slug}: " in balances.output and " 0 differ, 0 unbalanced" in balances.output
        # the append-only trigger came back with the data: the restored audit log cannot be edited
        engine = create_engine(restored)
        try:
            with engine.connect() as conn, pytest.raises(Exception, match="append-only"):
                conn.execute(text("UPDATE audit_entries SET action = action"))
        finally:
            engine.dispose()
    finally:
        if other is not None:
            with other.app_context():
                db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored.database}" WITH (FORCE)'))
        admin.dispose()
