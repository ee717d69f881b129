"""The roster import's confirm step as a job (`jifen.roster_import`, issue 15).

The request only marks the import `importing` and enqueues this job (the outbox sends it after the
request's commit: inline in the embedded default, to the workers otherwise). The job checks the
rows staged at upload against the database as it is now, then writes the plan a chunk of
households per transaction, each chunk with its progress (`rows_done`), so a 10,000-household
roster never sits in one web request and a page can show how far it is.

Resuming is idempotent by row: a job run again (after a killed worker, a failed chunk, a second
confirm of a stalled import) checks again, finds the households already written unchanged and
writes only the rest. A check that no longer passes turns the import invalid; a chunk that fails
(e.g. a household written by someone else meanwhile) leaves the import `failed` with its reason,
and confirming again resumes it.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jifen.platform import clock, unit_of_work
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.service import record
from jifen.platform.bulk import collector_paused
from jifen.platform.db import db, parse_uuid
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import current_tenant_id, tenant_get
from jifen.tenants.households.models import RosterImport

TASK = "jifen.roster_import"
CHUNK_HOUSEHOLDS = 1000  # households per transaction (config ROSTER_CHUNK_HOUSEHOLDS)
STALL_SECONDS = 120  # an importing roster with no progress for this long is taken to have lost its job


def enqueue(imp: RosterImport) -> None:
    """Hand the import to the job, in the confirming request's transaction."""
    from jifen.platform.jobs.queue import enqueue as publish_after_commit

    publish_after_commit(TASK, tenant_id=str(current_tenant_id()), import_id=str(imp.id))


def stalled(imp: RosterImport) -> bool:
    return imp.progress_at is None or (clock.now() - imp.progress_at).total_seconds() > STALL_SECONDS


def lock(import_id) -> RosterImport | None:
    import_id = parse_uuid(import_id)
    if import_id is None:
        return None
    return db.session.execute(select(RosterImport).where(RosterImport.id == import_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()


def _actor(imp: RosterImport) -> Actor:
    """Who confirmed: the check's scope and the audit entry are theirs."""
    user = tenant_get(User, imp.confirmed_by) if imp.confirmed_by else None
    return actor_for(user) if user is not None else Actor.system(tenant_id=imp.tenant_id)


def run(import_id) -> dict:
    """Check the staged rows again and write them, a chunk of households per transaction."""
    from jifen.tenants.households import roster

    imp = lock(import_id)
    if imp is None or imp.status != roster.IMPORTING:
        db.session.rollback()
        return {"skipped": imp.status if imp else "unknown import"}
    actor = _actor(imp)
    plan = roster.checked_plan(actor, imp)
    if plan.errors:
        roster.mark_invalid(imp, plan)
        db.session.commit()
        return {"invalid": len(plan.errors)}
    if imp.rows_done == 0:  # a resumed job sees the rows already written as unchanged: keep the first counts
        imp.summary = {"error_count": 0} | plan.counts
    imp.rows_done, imp.progress_at = imp.row_count - sum(plan.rows_of.values()), clock.now()
    db.session.commit()
    size = int(current_app.config.get("ROSTER_CHUNK_HOUSEHOLDS") or CHUNK_HOUSEHOLDS)
    for part in plan.chunks(size):
        if not _chunk(import_id, part):
            return {"stopped": "no longer importing"}
    return _finish(import_id, actor, len(plan.residents))


def _chunk(import_id, part) -> bool:
    """One chunk of households and its progress, in one transaction. False when the import is no
    longer importing (a second job, started on a stalled import, failed it meanwhile)."""
    from jifen.tenants.households import roster

    imp = lock(import_id)
    if imp.status != roster.IMPORTING:
        db.session.rollback()
        return False
    try:
        with collector_paused():
            roster.apply_plan(part)
    except IntegrityError:  # a household or ID number written by someone else since the check
        db.session.rollback()
        raise ChunkFailed(_("These households were changed by someone else while the roster was being imported; "
                            "the households before them are imported. Confirm again to import the rest.")) from None
    imp.rows_done += sum(part.rows_of.values())
    imp.progress_at = clock.now()
    db.session.commit()
    return True


def _finish(import_id, actor: Actor, residents_created: int) -> dict:
    from jifen.tenants.households import roster

    imp = lock(import_id)
    if imp.status != roster.IMPORTING:
        db.session.rollback()
        return {"stopped": "no longer importing"}
    roster.analyze_after(residents_created)
    imp.status, imp.imported_at, imp.rows_done, imp.failure = roster.IMPORTED, clock.now(), imp.row_count, None
    record(actor, "household.import", imp, after=imp.summary)
    db.session.commit()
    return {"rows": imp.row_count}


class ChunkFailed(Exception):
    """A chunk could not be written; its message is the reason shown on the import."""


def stopped(import_id, error: Exception) -> None:
    """The job died of an error it will not retry: the import is `failed` with the reason, never
    left importing for good; confirming again resumes it."""
    from jifen.tenants.households import roster

    unit_of_work.abandon()
    imp = lock(import_id)
    if imp is not None and imp.status == roster.IMPORTING:
        imp.status = roster.FAILED
        imp.failure = (str(error) if isinstance(error, ChunkFailed)
                       else _("The import stopped with an error (%(error)s).", error=repr(error)[:500]))[:2000]
    db.session.commit()
