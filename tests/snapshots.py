"""Saved states of the test database, restored before each test.

Building the test world through the services costs about half a second (sixteen password hashes,
a rulebook adopted twice) and creating an app most of another; restoring the rows costs a file
copy on SQLite and one transaction on PostgreSQL (tens of milliseconds). A test may write anything
(even downgrade the migrations, or write to the append-only audit table): the next one still
starts from the saved state, with the same ids.
"""
from __future__ import annotations

import gc
import os
import shutil
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


class SqliteSnapshots:
    """Each state is a copy of the database file; a restore moves a fresh copy into place (a new
    file, so a connection someone forgot can only see the old one, never block the restore)."""

    def __init__(self, url: str, folder: Path, release: Callable[[], None]):
        self.path = Path(make_url(url).database)
        self.folder = folder
        self.release = release

    def _file(self, name: str) -> Path:
        return self.folder / f"{name}.db"

    def take(self, name: str) -> None:
        self.release()
        shutil.copyfile(self.path, self._file(name))

    def restore(self, name: str) -> None:
        self.release()
        incoming = self.path.with_suffix(".incoming")
        shutil.copyfile(self._file(name), incoming)
        os.replace(incoming, self.path)

    def drop_all(self) -> None:
        """Nothing to do: the files live in pytest's temporary folder."""


class PostgresSnapshots:
    """Each state is a copy of every table in a schema `snapshot_<name>` of the test database. A
    restore empties the tables and copies the rows back in one transaction, as the superuser with
    triggers and foreign-key checks off (`session_replication_role = replica`), so the
    append-only audit table is restored like the others.

    That needs the schema the state was taken with: a test that changed it (a downgrade, a
    TRUNCATE: anything that gives a table new storage) shows in a fingerprint of the catalog, and
    the test database is then created again from a template of the last state taken (same name, so
    workers started by a test keep their URL). Templates are the slow way here (1 to 3 s a copy on
    a loaded machine, against about 30 ms for the rows), so they are only the fallback."""

    FINGERPRINT = ("SELECT md5(string_agg(oid::text || '.' || relfilenode::text, ',' ORDER BY oid)) "
                   "FROM pg_class WHERE relnamespace = 'public'::regnamespace")

    def __init__(self, url: str, release: Callable[[], None]):
        u = make_url(url)
        self.name = u.database
        self.template = f"{self.name}_template"
        self.engine = create_engine(u, pool_size=1, pool_pre_ping=True)  # pre-ping: a test may kill every backend
        self.admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT",
                                   poolclass=NullPool)
        self.release = release
        self.fingerprint = None
        self.scripts: dict[str, str] = {}  # state name -> the SQL that restores it

    @staticmethod
    def _save(conn, schema: str, tables: list) -> list:
        """Copy `tables` into a fresh `schema`, in that order; returns those that hold rows."""
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        filled = []
        for t in tables:
            conn.execute(text(f'CREATE TABLE "{schema}"."{t}" AS TABLE public."{t}"'))
            if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{t}")')).scalar():
                filled.append(t)
        return filled

    def take(self, name: str) -> None:
        schema = f"snapshot_{name}"
        with self.engine.begin() as conn:
            tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                       "ORDER BY tablename")).scalars().all()
            filled = self._save(conn, schema, tables)
            self.fingerprint = conn.execute(text(self.FINGERPRINT)).scalar()
        self.scripts[name] = ("SET LOCAL session_replication_role = replica;\n"
                              + "".join(f'DELETE FROM public."{t}";\n' for t in tables)
                              + "".join(f'INSERT INTO public."{t}" TABLE "{schema}"."{t}";\n' for t in filled))
        self._copy(self.name, self.template)

    def restore(self, name: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(text(self.FINGERPRINT)).scalar() == self.fingerprint:
                conn.exec_driver_sql(self.scripts[name])
                return
        self._copy(self.template, self.name)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self.scripts[name])

    def _copy(self, source: str, target: str) -> None:
        """`target` made again as a copy of `source` (nobody may be connected to either). Collect
        first: an app built with overrides that a test no longer holds may wait in a reference cycle
        with its engine and a pooled connection, which would block the copy (a full collection costs
        too much to run before every restore, so only here)."""
        gc.collect()
        self.release()
        self.engine.dispose()
        # a process a finished test started (a worker, a second web process) may still be closing
        # its connections: between tests nobody may hold one, so end them rather than wait
        self._admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{source}' AND pid <> pg_backend_pid()",
                    f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)',
                    f'CREATE DATABASE "{target}" TEMPLATE "{source}"')

    def _admin(self, *statements: str) -> None:
        with self.admin.connect() as conn:
            for sql in statements:
                conn.execute(text(sql))

    def drop_all(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.template}"')
        self.engine.dispose()
        self.admin.dispose()


class CitusSnapshots(PostgresSnapshots):
    """The same saved states on a Citus coordinator, restored the way Citus allows.

    What the PostgreSQL way cannot do there: `session_replication_role` is set on the coordinator
    only (propagated to the workers, Citus refuses every distributed query after it), so the shards
    would still refuse a DELETE of audit rows (the append-only trigger is on every shard) and check
    every foreign key; and `CREATE DATABASE ... TEMPLATE` copies one node, never the cluster. So a
    restore deletes children before parents (the database's own key graph), one connection per
    worker (sequential: reference tables change in the same transaction), truncates the tables
    whose trigger refuses DELETE (no row trigger fires), then inserts the saved rows parents first,
    each township's rows routed to its shard. TRUNCATE of every table instead costs a new file per
    shard: 7.7 s a restore against 0.13 s at 4 shards. The saved rows are local tables of the
    coordinator (`snapshot_<name>`), so a township a test moved to another worker is restored there.
    The fingerprint is of the tables and their columns (a downgrade, a dropped table); when it
    differs, the fallback makes
    the schema again from the migrations and `citus-init` (`rebuild`) and restores the rows."""

    FINGERPRINT = ("SELECT md5(string_agg(c.oid::text || '.' || a.attname || '.' || a.atttypid::text, ',' "
                   "ORDER BY c.oid, a.attnum)) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
                   "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') "
                   "AND a.attnum > 0 AND NOT a.attisdropped AND NOT relation_is_a_known_shard(c.oid)")
    # the tables, not the coordinator's own placements of the reference tables (pg_tables lists them)
    TABLES = ("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') "
              "AND NOT relation_is_a_known_shard(oid) ORDER BY relname")

    # the shards' foreign keys are checked as the rows go: one connection per worker, in key order
    RESTORE_MODE = "SET LOCAL citus.multi_shard_modify_mode = 'sequential';\n"
    PARENTS = ("SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
               "WHERE contype = 'f' AND connamespace = 'public'::regnamespace AND conrelid <> confrelid")
    GUARDED = ("SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal "
               "AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)")

    def __init__(self, url: str, release: Callable[[], None], rebuild: Callable[[], None]):
        super().__init__(url, release)
        self.rebuild = rebuild

    def take(self, name: str) -> None:
        schema = f"snapshot_{name}"
        with self.engine.begin() as conn:
            tables = conn.execute(text(self.TABLES)).scalars().all()
            parents = TopologicalSorter({t: set() for t in tables})
            for child, parent in conn.execute(text(self.PARENTS)).all():
                if child in tables and parent in tables:
                    parents.add(child, parent)
            order = list(parents.static_order())  # parents first
            guarded = set(conn.execute(text(self.GUARDED)).scalars()) & set(tables)  # append-only
            filled = self._save(conn, schema, order)
            self.fingerprint = conn.execute(text(self.FINGERPRINT)).scalar()
        # children first; a table whose trigger refuses DELETE (the audit entries, on every shard) is
        # truncated: no row trigger fires, and it costs a new file per shard, so only for those
        self.scripts[name] = (self.RESTORE_MODE
                              + "".join(f'TRUNCATE public."{t}" CASCADE;\n' for t in sorted(guarded))
                              + "".join(f'DELETE FROM public."{t}";\n' for t in reversed(order) if t not in guarded)
                              + "".join(f'INSERT INTO public."{t}" TABLE "{schema}"."{t}";\n' for t in filled))

    def restore(self, name: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(text(self.FINGERPRINT)).scalar() == self.fingerprint:
                conn.exec_driver_sql(self.scripts[name])
                return
        gc.collect()  # as in `_copy`: nobody may hold the tables being dropped
        self.release()
        with self.engine.begin() as conn:
            self._empty_public(conn)
        self.rebuild()
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self.scripts[name])
            self.fingerprint = conn.execute(text(self.FINGERPRINT)).scalar()

    @staticmethod
    def _empty_public(conn) -> None:
        """Every object of the migrations in `public` dropped (Citus drops the shards with the tables).
        Not the schema itself: the citus extension keeps two of its views there."""
        mine = "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
        for kind, sql in (
                ("TABLE", "SELECT format('%I', relname) FROM pg_class c WHERE relnamespace = 'public'::regnamespace "
                          "AND relkind IN ('r', 'p') AND NOT relation_is_a_known_shard(c.oid) " + mine.format(oid="c.oid")),
                ("SEQUENCE", "SELECT format('%I', relname) FROM pg_class c WHERE relnamespace = "
                             "'public'::regnamespace AND relkind = 'S' " + mine.format(oid="c.oid")),
                ("FUNCTION", "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE pronamespace = "
                             "'public'::regnamespace " + mine.format(oid="p.oid")),
                ("TYPE", "SELECT format('%I', typname) FROM pg_type t WHERE typnamespace = 'public'::regnamespace "
                         "AND typtype IN ('e', 'd') " + mine.format(oid="t.oid"))):
            names = conn.execute(text(sql)).scalars().all()
            if names:
                conn.execute(text(f"DROP {kind} IF EXISTS {', '.join(names)} CASCADE"))

    def drop_all(self) -> None:
        """Nothing beyond the pools: the snapshots live in the test database, dropped on every node."""
        self.engine.dispose()
        self.admin.dispose()


def snapshots_for(url: str, folder: Path, release: Callable[[], None], rebuild: Callable[[], None] | None = None):
    """`rebuild` (make the schema again) is given on Citus only, where it is also the fallback."""
    if url.startswith("sqlite"):
        return SqliteSnapshots(url, folder, release)
    if rebuild is not None:
        return CitusSnapshots(url, release, rebuild)
    return PostgresSnapshots(url, release)
