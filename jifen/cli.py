"""The `jifen` console command (Flask CLI underneath): db upgrade, operators, onboarding, demo,
jobs, audit. Commands call the same service functions as the pages and the API."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.errors import ServiceError
from jifen.platform.townships.links import setup_url


def _create_app():
    from jifen import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True)
def main():
    """Jifen (积分) administration."""


def _fail(err: ServiceError):
    db.session.rollback()
    lines = [f"error: {err.message}"] + [f"  {f}: {'; '.join(m)}" for f, m in err.errors.items()]
    raise click.ClickException("\n".join(lines))


def _operator_actor(username: str):
    from jifen.platform.accounts.models import Operator
    from jifen.platform.accounts.service import actor_for

    op = db.session.execute(select(Operator).where(Operator.username == username)).scalar_one_or_none()
    if op is None:
        raise click.ClickException(f"no operator named {username!r}; create one with create-operator")
    return actor_for(op)


def _tenant(slug: str):
    from jifen.platform.townships.models import Tenant

    tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    if tenant is None:
        raise click.ClickException(f"no township with slug {slug!r}")
    return tenant


@click.command("create-operator")
@click.option("--county", "county_name", required=True, help="County name, e.g. 紫金县")
@click.option("--county-slug", required=True, help="Short id of the county, e.g. zijin")
@click.option("--username", required=True)
@click.option("--name", "display_name", default="")
@click.option("--phone", default=None, help="Job alerts of the county's townships are texted here")
@click.password_option()
@with_appcontext
def create_operator(county_name, county_slug, username, display_name, phone, password):
    """Create a county operator account (and the county if it is new)."""
    from jifen.platform.accounts.service import create_operator as create
    from jifen.platform.townships.service import get_or_create_county

    try:
        op = create(get_or_create_county(county_name, county_slug), username, display_name, password, phone)
        db.session.commit()
    except ServiceError as e:
        _fail(e)
    click.echo(f"operator {op.username} created; sign in at /county/login")


@click.command("operator-phone")
@click.argument("username")
@click.argument("phone", required=False, default="")
@with_appcontext
def operator_phone(username, phone):
    """Set (or, without PHONE, clear) where an operator's job alerts are texted."""
    from jifen.platform.accounts.service import set_operator_phone

    try:
        op = set_operator_phone(username, phone)
        db.session.commit()
    except ServiceError as e:
        _fail(e)
    click.echo(f"job alerts for {op.username} go to {op.phone}" if op.phone
               else f"{op.username} gets no texts (the county console shows job problems)")


BASE_URL_HELP = ("Where the printed setup link points (default: JIFEN_NOTIFY_LINK_BASE_URL, else "
                 "http://127.0.0.1:5000)")


@click.command("onboard-township")
@click.option("--operator", "operator_name", required=True, help="Operator username acting")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--timezone", default=clock.DEFAULT_ZONE, show_default=True)
@click.option("--locale", "default_locale", default="zh_CN", show_default=True)
@click.option("--admin-username", required=True)
@click.option("--admin-name", "admin_display_name", required=True)
@click.option("--base-url", default=None, help=BASE_URL_HELP)
@with_appcontext
def onboard_township(operator_name, base_url, **data):
    """Onboard a township and print its admin's one-time setup link."""
    from jifen.platform.townships import service

    try:
        tenant, admin, secret = service.onboard(_operator_actor(operator_name), data)
        db.session.commit()
    except ServiceError as e:
        _fail(e)
    click.echo(f"township {tenant.name} ({tenant.slug}) onboarded")
    click.echo(f"setup link for {admin.username}: {setup_url(tenant.slug, secret, base_url)}")


@click.command("suspend-township")
@click.option("--operator", "operator_name", required=True)
@click.option("--reason", default=None)
@click.option("--reactivate", is_flag=True, help="Reactivate instead of suspending")
@click.argument("slug")
@with_appcontext
def suspend_township(operator_name, reason, reactivate, slug):
    """Suspend a township (or reactivate it with --reactivate)."""
    from jifen.platform.townships import service

    try:
        actor = _operator_actor(operator_name)
        t = service.reactivate(actor, slug) if reactivate else service.suspend(actor, slug, reason)
        db.session.commit()
    except ServiceError as e:
        _fail(e)
    click.echo(f"{t.slug}: {t.status}")


@click.command("list-townships")
@click.option("--operator", "operator_name", required=True)
@with_appcontext
def list_townships(operator_name):
    """Townships of the operator's county with their status."""
    from jifen.platform.townships import service

    for t, n in service.list_townships(_operator_actor(operator_name)):
        click.echo(f"{t.slug}\t{t.status}\t{n} accounts\t{t.name}")


def _account_link(call, operator_name, slug, username, base_url, what):
    try:
        done = call(_operator_actor(operator_name), slug, username)
        db.session.commit()
    except ServiceError as e:
        _fail(e)
    head = f"{what} for {done.user.username} of {done.tenant.slug}"
    if done.sent_to:
        click.echo(f"{head}: texted to {done.sent_to}")
    else:
        click.echo(f"{head}: not texted (the account has no phone); hand them this link: "
                   f"{setup_url(done.tenant.slug, done.secret, base_url)}")


@click.command("reissue-setup-link")
@click.option("--operator", "operator_name", required=True, help="Operator username acting")
@click.option("--username", default=None, help="The account (default: the township's first administrator)")
@click.option("--base-url", default=None, help=BASE_URL_HELP)
@click.argument("slug")
@with_appcontext
def reissue_setup_link(operator_name, username, base_url, slug):
    """A fresh one-time setup link for an account of a township (older links stop working): texted
    to the account's phone, or printed when it has none."""
    from jifen.platform.townships import service

    if username is None:
        def call(actor, slug, _username):
            return service.new_admin_setup_link(actor, slug)
    else:
        call = service.new_staff_setup_link
    _account_link(call, operator_name, slug, username, base_url, "new setup link")


@click.command("reset-password")
@click.option("--operator", "operator_name", required=True, help="Operator username acting")
@click.option("--base-url", default=None, help=BASE_URL_HELP)
@click.argument("slug")
@click.argument("username")
@with_appcontext
def reset_password(operator_name, base_url, slug, username):
    """Reset a township account's password: it is signed out everywhere, and a one-time link that
    sets a new password is texted to the account's phone (printed when it has none)."""
    from jifen.platform.townships import service

    _account_link(service.reset_staff_password, operator_name, slug, username, base_url, "password reset; setup link")


@click.command("export-township")
@click.option("--operator", "operator_name", required=True, help="Operator username acting")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Where to write the zip (default: <slug>-<date>.zip here)")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx", show_default=True,
              help="One .xlsx workbook or one .csv file per table")
@click.argument("slug")
@with_appcontext
def export_township(operator_name, out_path, fmt, slug):
    """Write a zip of the township's data: one workbook (or CSV) per table it owns, its uploaded
    files, and a manifest. A township being offboarded is deleted only once exported."""
    import shutil

    from jifen.platform.townships import offboarding

    try:
        data, name = offboarding.export(_operator_actor(operator_name), slug, fmt)
        db.session.commit()
    except ServiceError as e:
        _fail(e)
    with data, open(out_path or name, "wb") as out:
        shutil.copyfileobj(data, out)
    click.echo(f"{slug} exported to {out_path or name}")


@click.command("offboard-township")
@click.option("--operator", "operator_name", required=True, help="Operator username acting")
@click.option("--reason", default=None)
@click.option("--cancel", is_flag=True, help="Cancel the offboarding (the township stays suspended)")
@click.argument("slug")
@with_appcontext
def offboard_township(operator_name, reason, cancel, slug):
    """Offboard a township: suspend it now and delete all its data after the grace period
    (OFFBOARD_GRACE_DAYS); it is deleted only once exported (export-township) after this."""
    from jifen.platform.townships import offboarding

    try:
        actor = _operator_actor(operator_name)
        t = offboarding.cancel_offboarding(actor, slug) if cancel else offboarding.offboard(actor, slug, reason)
        db.session.commit()
    except ServiceError as e:
        _fail(e)
    if cancel:
        click.echo(f"{t.slug}: offboarding cancelled; {t.status}")
    else:
        click.echo(f"{t.slug}: {t.status}; all its data is deleted after {t.delete_after.isoformat()}")


@click.command("offboard-due")
@with_appcontext
def offboard_due():
    """Delete the townships whose offboarding grace period has ended and that were exported since
    it started (the beat does this hourly); the others wait for an export."""
    from jifen.platform.townships.offboarding import delete_due

    done, held = delete_due()
    for slug, rows in done:
        click.echo(f"{slug}: deleted ({rows} rows)")
    for slug in held:
        click.echo(f"{slug}: not deleted, waiting for an export (export-township {slug})")


@click.command("run-job")
@click.argument("job")
@click.option("--tenant", "slug", required=True)
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Tenant-local date YYYY-MM-DD, today or earlier (default: today there); the job runs as of that day")
@click.option("--force", is_flag=True, help="Run again even if today's run finished")
@click.option("--via-worker", is_flag=True, help="Publish to the Celery workers and wait, showing progress, "
              "instead of running here")
@click.option("--timeout", type=click.IntRange(min=1), default=3600, show_default=True,
              help="With --via-worker: seconds to wait for the run to finish")
@with_appcontext
def run_job(job, slug, day, force, via_worker, timeout):
    """Run a daily job for one township now: inline, or on the workers with --via-worker."""
    from jifen.platform.jobs.schedule import DAILY_JOBS

    if job not in DAILY_JOBS:
        raise click.ClickException(f"unknown job {job!r}; known: {', '.join(sorted(DAILY_JOBS))}")
    tenant = _tenant(slug)
    today = clock.today(tenant)
    if day is not None and day.date() > today:
        # a run dated ahead would stand as the township's latest (a ranking dated next week shown as current)
        raise click.BadParameter(f"{day.date().isoformat()} is after today in {slug} ({today.isoformat()})",
                                 param_hint="'--date'")
    day = (day.date() if day else today).isoformat()
    kwargs = {"tenant_id": str(tenant.id), "local_date": day, "force": force}
    if via_worker:
        result = _run_on_workers(tenant, job, day, kwargs, timeout)
    else:
        task = current_app.extensions["celery"].tasks[job]
        result = task.apply(kwargs=kwargs).get()
    click.echo(f"{job} for {slug} on {day}: {result}")


def _run_on_workers(tenant, job: str, day: str, kwargs: dict, timeout: int) -> dict:
    """Publish the job and follow its run row (claimed → running → done / failed) until it ends."""
    import time
    from datetime import date

    from jifen.platform.jobs.models import JobRun
    from jifen.platform.jobs.queue import BROKER_ERRORS, broker, eager, publish
    from jifen.platform.tenancy import tenant_scope

    if eager():
        raise click.ClickException("--via-worker needs a broker and workers; this instance runs tasks inline "
                                   "(TASKS_EAGER): leave out --via-worker")
    local_date = date.fromisoformat(day)

    def state():
        db.session.rollback()  # see the workers' commits
        with tenant_scope(tenant):
            return db.session.execute(select(JobRun.status, JobRun.attempts, JobRun.result, JobRun.error)
                                      .where(JobRun.job == job, JobRun.local_date == local_date)).one_or_none()

    before = state()
    if before is not None and before.status == JobRun.DONE and not kwargs["force"]:
        return {"skipped": "already done", **(before.result or {})}
    attempts = before.attempts if before is not None else 0
    try:
        with broker() as conn:
            publish(job, kwargs, conn)
    except BROKER_ERRORS as exc:
        raise click.ClickException(f"the broker is unreachable: {exc}") from exc
    click.echo(f"published {job} for {tenant.slug} on {day}; waiting for a worker (up to {timeout} s)")
    started, shown = time.monotonic(), None
    while time.monotonic() - started < timeout:
        now = state()
        if now is not None and now.attempts > attempts:
            seen = (now.status, now.attempts)
            if seen != shown:
                click.echo(f"  {now.status} (attempt {now.attempts}, {time.monotonic() - started:.1f} s)")
                shown = seen
            if now.status == JobRun.DONE:
                return now.result or {}
            if now.status == JobRun.FAILED:
                raise click.ClickException(f"{job} for {tenant.slug} on {day} failed: {now.error}")
        elif shown is None:
            click.echo(f"  queued ({time.monotonic() - started:.1f} s)")
            shown = ("queued",)
        time.sleep(0.5)
    raise click.ClickException(f"no result after {timeout} s; the run goes on on the workers "
                               "(see the job runs page)")


@click.command("beat-tick")
@with_appcontext
def beat_tick():
    """Claim and publish the daily jobs that are due now (what celery beat does every few minutes)."""
    from jifen.platform.jobs.schedule import tick

    for tenant_id, job, day in tick():
        click.echo(f"published {job} for tenant {tenant_id} ({day})")


@click.group("outbox")
def outbox():
    """Jobs written by requests and waiting for the broker."""


@outbox.command("drain")
@with_appcontext
def outbox_drain():
    """Publish every pending job now (what the beat does every OUTBOX_DRAIN_SECONDS)."""
    from jifen.platform.jobs.outbox import drain

    result = drain(min_age_seconds=0)
    click.echo(f"published {result['published']} job(s); {result['pending']} still pending")
    if result["pending"]:
        sys.exit(1)


@click.group("files")
def files():
    """Uploaded files (photos, scans, rosters)."""


@files.command("move-to-store")
@click.option("--batch", default=20, show_default=True, help="Files per transaction")
@with_appcontext
def files_move_to_store(batch):
    """Copy every file still held in the database into the S3 bucket (JIFEN_FILE_STORE=s3) and clear
    it from its row, a batch per transaction; safe to stop and run again."""
    from jifen.platform.files.service import move_batch

    if current_app.config["FILE_STORE"] != "s3":
        raise click.ClickException("JIFEN_FILE_STORE is not s3: there is no bucket to move the files to")
    moved = 0
    while True:
        try:
            n = move_batch(batch)
        except ServiceError as err:
            _fail(err)
        db.session.commit()
        moved += n
        if not n:
            break
        click.echo(f"moved {moved} file(s)")
    click.echo(f"done: {moved} file(s) moved into bucket {current_app.config['S3_BUCKET']}")


@click.group("audit")
def audit():
    """Audit log commands."""


@audit.command("verify")
@click.option("--tenant", "slug", default=None, help="One township (default: all)")
@with_appcontext
def audit_verify(slug):
    """Recompute every tenant's audit hash chain; exit 1 if any is broken."""
    from jifen.platform.audit.service import verify_chain
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant

    tenants = [_tenant(slug)] if slug else db.session.execute(select(Tenant).order_by(Tenant.slug)).scalars()
    broken = 0
    for tenant in tenants:
        with tenant_scope(tenant):
            r = verify_chain()
        broken += not r.ok
        state = "ok" if r.ok else f"BROKEN at seq {r.first_bad_seq}: {r.problem}"
        click.echo(f"{tenant.slug}: {r.entries} entries, {state}")
    sys.exit(1 if broken else 0)


@click.group("points")
def points():
    """Points ledger commands."""


@points.command("check-balances")
@click.option("--tenant", "slug", default=None, help="One township (default: all)")
@click.option("--fix", is_flag=True, help="Set cached balances to what the ledger sums to")
@with_appcontext
def points_check_balances(slug, fix):
    """Recompute every household's cached balances from the ledger; exit 1 on any difference."""
    from jifen.platform.roles.authz import Actor
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.points.entries import check_balances

    tenants = [_tenant(slug)] if slug else db.session.execute(select(Tenant).order_by(Tenant.slug)).scalars().all()
    bad = 0
    for tenant in tenants:
        with tenant_scope(tenant):
            report = check_balances(Actor.system("check-balances", tenant.id), fix=fix)
        bad += bool(report["differences"] or report["unbalanced"])
        click.echo(f"{tenant.slug}: {report['balances']} balances, {len(report['differences'])} differ"
                   f"{' (fixed)' if fix and report['differences'] else ''}, "
                   f"{len(report['unbalanced'])} unbalanced transactions")
        for d in report["differences"]:
            click.echo(f"  household {d.household_id} {d.period}: cached earned {d.cached_earned} available "
                       f"{d.cached_available}, ledger earned {d.earned} available {d.available}")
    sys.exit(1 if bad and not fix else 0)


@points.command("close-period")
@click.option("--tenant", "slug", required=True)
@click.option("--period", type=int, required=True, help="A past year, e.g. 2025")
@with_appcontext
def points_close_period(slug, period):
    """Close a past year now (or finish a close that stopped, or sweep late points into it):
    available points carry over or expire per the township's policy. Safe to run again."""
    from jifen.platform.tenancy import tenant_scope
    from jifen.tenants.points.period_close import close_by_cli

    with tenant_scope(_tenant(slug)):
        try:
            run = close_by_cli(period)
        except ServiceError as err:
            _fail(err)
        c = run.close
        click.echo(f"{slug} {period}: {c.status}; this run closed {run.households} households, carried "
                   f"{run.carried}, expired {run.expired}; in all {c.households} households, carried {c.carried}, "
                   f"expired {c.expired}")


@click.command("demo")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
@with_appcontext
def demo(base_url):
    """Load the demo: Zijin county, Longwo township, its nine pilot villages and demo accounts."""
    from jifen.demo import load

    for line in load(base_url):
        click.echo(line)


@click.command("reseal-ids")
@with_appcontext
def reseal_ids():
    """Re-encrypt every stored ID number with the newest key of JIFEN_ID_KEYS (after adding a key
    first in the list); once it has run, the older keys can be removed."""
    from jifen.platform.sealed import SealError
    from jifen.tenants.households.sealing import reseal_all

    try:
        result = reseal_all()
    except SealError as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    except ServiceError as err:  # the bucket can't be reached: nothing committed, run it again later
        _fail(err)
    db.session.commit()
    click.echo(f"resealed {result['numbers']} ID numbers with the newest key "
               f"({result['were_older']} were under an older key), {result['files']} uploaded spreadsheets and "
               f"{result['staged_rosters']} staged roster imports")


@click.command("citus-init")
@with_appcontext
def citus_init():
    """Distribute a migrated database over its Citus cluster: reference tables, tenant tables by
    tenant_id colocated, foreign keys restored. Idempotent; refuses a half-distributed database."""
    from jifen.platform.citus import CitusError, distribute

    try:
        said = distribute.init(db.session.connection())
    except CitusError as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    db.session.commit()
    click.echo(said)


@click.command("citus-status")
@with_appcontext
def citus_status():
    """Each worker's load, and whether every table is what Jifen needs on Citus (exit 1 if not)."""
    from jifen.platform.citus import distribute, placement

    conn = db.session.connection()
    st = distribute.status(conn)
    click.echo(f"tables: {st.state} ({len(st.right)} right, {len(st.wrong)} wrong, {len(st.unknown)} unknown)")
    for table, kind in sorted(st.wrong.items()):
        click.echo(f"  {table}: {kind}")
    if st.state == "distributed":
        for w in placement.workers(conn):
            click.echo(f"worker {w['nodename']}:{w['nodeport']}: {w['townships']} townships, {w['bytes']:,} bytes")
    db.session.rollback()
    if st.state != "distributed":
        sys.exit(1)


@click.command("citus-move-township")
@click.argument("slug")
@click.option("--to", "target", required=True, help="the worker, host:port")
@click.option("--mode", default="block_writes", show_default=True,
              help="block_writes | auto (logical replication: writes go on during the copy) | force_logical")
@with_appcontext
def citus_move_township(slug, target, mode):
    """Give a township a shard group of its own and move it to another worker."""
    from sqlalchemy.exc import DBAPIError

    from jifen.platform.citus import CitusError, placement

    tenant = _tenant(slug)
    db.session.rollback()
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise click.ClickException("--to must be host:port")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        try:
            moved = placement.move(conn, tenant.id, host, int(port), mode)
        except CitusError as err:
            raise click.ClickException(str(err)) from err
        except DBAPIError as err:  # Citus refused a step: its own words (each step is its own transaction)
            raise click.ClickException(f"Citus refused: {err.orig}") from err
    click.echo(f"{slug}: {moved['from']} -> {moved['to']} (shard group {moved['shard']}"
               f"{', isolated first' if moved['isolated'] else ''})")


def init_app(app) -> None:
    from flask_migrate.cli import db as db_group

    for cmd in (citus_init, citus_status):
        db_group.add_command(cmd)
    for cmd in (reissue_setup_link, reset_password, export_township, offboard_township, offboard_due, operator_phone):
        app.cli.add_command(cmd)
    for cmd in (create_operator, onboard_township, suspend_township, list_townships, run_job,
                beat_tick, outbox, audit, points, demo, reseal_ids, files, citus_move_township):
        app.cli.add_command(cmd)
