"""Telling the county: when a township's daily job fails for good, or a check finds a difference,
every active operator of the township's county with a phone gets a text. The county console's
banner (`jobs.service.county_alerts`) is their inbox; this is their channel.

The text is a delivery in the township's outbox (`operator_id` + `job_run_id`), sent by the same
workers with the same retries as every other text, after the staff quiet hours. It names the
township, the job, the day and what went wrong: an operator's phone gets no household's data."""
from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.accounts.models import Operator
from jifen.platform.db import db
from jifen.platform.jobs.alerts import register_alert_listener
from jifen.platform.jobs.models import JobRun
from jifen.platform.jobs.schedule import job_label
from jifen.platform.townships.models import Tenant
from jifen.tenants.notifications.models import SMS, NotificationDelivery
from jifen.tenants.notifications.quiet import staff_quiet_until

ERROR_CHARS = 120  # of a failed run's error text, in a message that must stay short


def county_alert(tenant: Tenant, run: JobRun) -> None:
    """Queue a text to each active operator of the township's county who has a phone."""
    operators = db.session.execute(select(Operator).where(
        Operator.county_id == tenant.county_id, Operator.status == Operator.ACTIVE, Operator.phone.is_not(None))
        .order_by(Operator.username)).scalars().all()
    now = clock.now()
    due = staff_quiet_until(now, tenant) or now
    for operator in operators:
        db.session.add(NotificationDelivery(operator_id=operator.id, job_run_id=run.id, channel=SMS,
                                            next_attempt_at=due, created_at=now))


register_alert_listener(county_alert)


def alert_text(run: JobRun, tenant: Tenant, locale: str) -> str:
    """What the operator reads, in their language."""
    with force_locale(locale):
        what = dict(township=tenant.name, job=job_label(run.job), day=run.local_date.isoformat())
        if run.problems:
            return _("%(township)s: the daily job “%(job)s” of %(day)s found %(n)d problem(s).",
                     n=run.problems, **what)
        error = (run.error or "").strip().splitlines()[-1:] or [""]
        return _("%(township)s: the daily job “%(job)s” of %(day)s failed: %(error)s",
                 error=error[0][:ERROR_CHARS], **what)
