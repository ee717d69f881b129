"""What every benchmark shares: a scratch PostgreSQL database made for one run and dropped after,
and a timestamped log on stderr (stdout carries the figures)."""
from __future__ import annotations

import os
import secrets
import sys
import time


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Database:
    """`jifen_<label>_bench_<pid>_<random>` on the server of `url`; `dsn` (psycopg) and `url`
    (SQLAlchemy) name it. `template`: a copy of that database (a file copy: big generated data
    kept between runs)."""

    def __init__(self, url: str, label: str, template: str | None = None):
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(url)
        self.admin = base.set(drivername="postgresql", database=base.database or "postgres")
        self.name = f"jifen_{label}_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(self.admin.render_as_string(hide_password=False), autocommit=True) as conn:
            copy = f' TEMPLATE "{template}" STRATEGY = FILE_COPY' if template else ""
            conn.execute(f'CREATE DATABASE "{self.name}"{copy}')
        self.dsn = self.admin.set(database=self.name).render_as_string(hide_password=False)
        self.url = base.set(drivername="postgresql+psycopg", database=self.name).render_as_string(hide_password=False)
        log(f"created database {self.name}")

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        log(f"dropped database {self.name}")
