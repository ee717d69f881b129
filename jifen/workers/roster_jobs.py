"""The roster import's confirm step (see jifen/tenants/households/roster_job.py).

`jifen.roster_import` is enqueued by the confirm (and by confirming a failed or stalled import
again): it checks the staged rows and writes them a chunk of households per transaction. A failure
that will not be retried marks the import failed with its reason (never left importing for good).
"""
from __future__ import annotations

import uuid

from celery import shared_task
from flask import current_app

from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households import roster_job
from jifen.workers import will_retry


@shared_task(name=roster_job.TASK, acks_late=True, bind=True)
def roster_import(self, tenant_id: str, import_id: str) -> dict:
    tenant = db.session.get(Tenant, uuid.UUID(str(tenant_id)))
    if tenant is None:
        return {"skipped": "unknown tenant"}
    with tenant_scope(tenant):
        try:
            return roster_job.run(import_id)
        except roster_job.ChunkFailed as exc:  # an expected failure: shown on the import, not retried
            roster_job.stopped(import_id, exc)
            return {"failed": str(exc)}
        except Exception as exc:
            if not will_retry(self, exc):
                try:
                    roster_job.stopped(import_id, exc)
                except Exception:  # noqa: BLE001 - the database is gone too: the stall lets a confirm resume
                    db.session.rollback()
                    current_app.logger.exception("roster import %s: could not record the failure", import_id)
            raise
