"""Store jobs: expire unclaimed orders.

Every night (01:15 township time) open store orders placed `orders.ORDER_DAYS` or more local days
before are expired: the goods go back to stock and the points back to the household, one order per
transaction under its row lock, so a hand-over at the same moment either wins or finds it expired.
Running it again finds nothing left to do."""
from __future__ import annotations

from celery import shared_task
from flask_babel import lazy_gettext as _l

from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.platform.roles.authz import Actor
from jifen.tenants.store import orders

ORDER_EXPIRY = "jifen.order_expiry"
register_daily_job(ORDER_EXPIRY, at="01:15", label=_l("Expire uncollected orders"))


def _expire(tenant, day) -> dict:
    result = orders.expire_due(Actor.system("order expiry job", tenant.id), day)
    return result | {"rows": result["expired"]}  # the orders released (job-runs page)


@shared_task(name=ORDER_EXPIRY, acks_late=True)
def order_expiry(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(ORDER_EXPIRY, tenant_id, local_date, _expire, force=force)
