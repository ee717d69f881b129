"""The points capability's daily jobs: close notices and post their items (then open new notices),
and the nightly check of cached balances against the ledger."""
from __future__ import annotations

from celery import shared_task
from flask import current_app
from flask_babel import lazy_gettext as _l

from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.platform.roles.authz import Actor
from jifen.tenants.points import ledger, posting

NOTICES = "jifen.points_notices"
BALANCE_CHECK = "jifen.ledger_balance_check"
register_daily_job(NOTICES, at="00:30", label=_l("Public notices: close and post"))
register_daily_job(BALANCE_CHECK, at="03:30", label=_l("Balance check"))


def _notices(tenant, day) -> dict:
    result = posting.nightly(Actor.system("notices job", tenant.id), today=day)
    # notices closed, items posted, notices opened (job-runs page)
    return result | {"rows": result["closed"] + result["posted"] + result["published"]}


def _balance_check(tenant, day) -> dict:
    report = ledger.recompute(fix=False)
    if report["differences"] or report["unbalanced"]:
        current_app.logger.error("ledger of %s: %d balance differences, %d unbalanced transactions", tenant.slug,
                                 len(report["differences"]), len(report["unbalanced"]))
    problems = len(report["differences"]) + len(report["unbalanced"])  # told to the admins by the runner
    return {"balances": report["balances"], "differences": len(report["differences"]),
            "unbalanced": len(report["unbalanced"]), "rows": report["balances"], "problems": problems}


@shared_task(name=NOTICES, acks_late=True)
def points_notices(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(NOTICES, tenant_id, local_date, _notices, force=force)


@shared_task(name=BALANCE_CHECK, acks_late=True)
def ledger_balance_check(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(BALANCE_CHECK, tenant_id, local_date, _balance_check, force=force)
