import logging
import os
import re

from alembic import context
from flask import current_app

from jifen.platform import citus

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# No logging setup here: migrations run inside the app (Flask-Migrate), whose logging (logs.py: JSON
# in production) is already in place; alembic.ini's would replace it with plain text at WARN.
logger = logging.getLogger('alembic.env')


def get_engine():
    return current_app.extensions['migrate'].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace(
            '%', '%%')
    except AttributeError:
        return str(get_engine().url).replace('%', '%%')


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option('sqlalchemy.url', get_engine_url())
target_db = current_app.extensions['migrate'].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, 'metadatas'):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True,
        render_as_batch=True, compare_type=True,
    )

    with context.begin_transaction():
        context.run_migrations()


# How long a migration statement waits for a lock before it fails (PostgreSQL). An ALTER TABLE
# waiting behind a long transaction would otherwise queue every later query on that table behind
# itself and stall the site; failing fast lets the upgrade be retried at a quieter moment.
# JIFEN_MIGRATION_LOCK_TIMEOUT: a PostgreSQL duration ("5s", "500ms"), "0" waits forever.
DEFAULT_LOCK_TIMEOUT = "5s"


def lock_timeout():
    value = os.environ.get("JIFEN_MIGRATION_LOCK_TIMEOUT", "").strip() or DEFAULT_LOCK_TIMEOUT
    if not re.fullmatch(r"\d+\s*(ms|s|min|h)?", value):
        raise SystemExit(f"JIFEN_MIGRATION_LOCK_TIMEOUT={value!r}: expected a duration such as 5s or 500ms")
    return value


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, 'autogenerate', False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info('No changes in schema detected.')

    conf_args = dict(current_app.extensions['migrate'].configure_args)
    conf_args.setdefault("render_as_batch", True)  # SQLite can only ALTER through table copies
    conf_args.setdefault("compare_type", True)
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    with connectable.connect() as connection:
        if connection.dialect.name == "postgresql":
            # session-wide (not SET LOCAL): it also holds in autocommit blocks (CREATE INDEX CONCURRENTLY)
            connection.exec_driver_sql(f"SET lock_timeout = '{lock_timeout()}'")
            if citus.installed(connection):
                # on Citus a migration may touch distributed and reference tables in one transaction
                # (a column dropped from `operators` after a distributed table's DDL): Citus allows
                # that only when it sends multi-shard statements over one connection per worker
                connection.exec_driver_sql("SET citus.multi_shard_modify_mode TO 'sequential'")
            connection.commit()  # end the implicit transaction, so that alembic opens its own
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args
        )

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
