"""The nightly star rating job: every active household's stars for the current period (and in
January for the period just ended), stored one row per household and period. Running it again
gives the same rows (see honours.stars.store)."""
from __future__ import annotations

from celery import shared_task
from flask_babel import lazy_gettext as _l

from jifen.platform.jobs.runner import run_daily
from jifen.platform.jobs.schedule import register_daily_job
from jifen.tenants.honours import stars

STAR_RATINGS = "jifen.star_ratings"
register_daily_job(STAR_RATINGS, at="02:00", label=_l("Star ratings"))


def _star_ratings(tenant, day) -> dict:
    result = stars.nightly(day)
    rated = sum(p.get("households", 0) for p in result.values() if isinstance(p, dict))
    return result | {"rows": rated}  # the households rated (job-runs page)


@shared_task(name=STAR_RATINGS, acks_late=True)
def star_ratings(tenant_id: str, local_date: str, force: bool = False) -> dict:
    return run_daily(STAR_RATINGS, tenant_id, local_date, _star_ratings, force=force)
