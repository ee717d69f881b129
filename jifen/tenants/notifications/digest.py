"""The nightly staff digest: every morning (07:30 township time) each active staff member whose
sources (digest_sources.py) count something waiting gets one digest: stored for the banner on the
console home, and texted to their phone when their account has one (through the SMS channel, which
is the logging channel when no SMS endpoint is configured), after the staff quiet hours. One per user
and day: a digest a night's job alert made is recounted, not made again, and a second run sends
no second text.

This module also registers the points capability's sources, counted by the work queue itself
(`applications.work_queue`), so the digest and the queue page never disagree."""
from __future__ import annotations

from contextvars import ContextVar
from datetime import date, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import ServiceError
from jifen.platform.jobs.alerts import register_alert_listener
from jifen.platform.roles.authz import Actor, action
from jifen.platform.roles.models import RoleAssignment
from jifen.platform.roles.registry import TOWNSHIP_ADMIN, VILLAGER
from jifen.platform.tenancy import current_tenant
from jifen.platform.townships.models import Tenant
from jifen.tenants.notifications.digest_sources import SOURCES, register_digest_source
from jifen.tenants.notifications.links import path
from jifen.tenants.notifications.models import SMS, NotificationDelivery, StaffDigest
from jifen.tenants.notifications.quiet import staff_quiet_until

QUEUE_LIMIT = 1000  # per list of the work queue; a digest says "1000" when more wait

# --- the points sources ---------------------------------------------------------------------------

_QUEUES: ContextVar[dict | None] = ContextVar("digest_queues", default=None)


def _queue_counts(actor: Actor) -> tuple[int, int, int]:
    """(to verify, to certify, objections) of the actor's work queue; asked once per actor within
    one digest run (three sources share it), fresh every time outside one."""
    from jifen.tenants.points import applications

    cache = _QUEUES.get()
    key = (actor.tenant_id, actor.id)
    if cache is not None and key in cache:
        return cache[key]
    try:
        q = applications.work_queue(actor, limit=QUEUE_LIMIT)
        counts = (len(q.to_verify), len(q.to_certify), len(q.objections))
    except ServiceError:  # a role that has no work queue (storekeeper)
        counts = (0, 0, 0)
    if cache is not None:
        cache[key] = counts
    return counts


register_digest_source("points.to_verify", _l("Applications to verify"), lambda a: _queue_counts(a)[0],
                       "points_review.queue")
register_digest_source("points.to_certify", _l("Panel votes waiting"), lambda a: _queue_counts(a)[1],
                       "points_review.panel")
register_digest_source("points.objections", _l("Objections to decide"), lambda a: _queue_counts(a)[2],
                       "points_review.queue")


# --- the job runs' source, and telling the admins at once -----------------------------------------

def _job_problems(actor: Actor) -> int:
    """Runs of yesterday and today that failed for good or whose check found a problem (admins only)."""
    from jifen.platform.jobs.service import problems_since

    if TOWNSHIP_ADMIN not in actor.roles:
        return 0
    return problems_since(current_tenant(), clock.today() - timedelta(days=1))


register_digest_source("jobs.problems", _l("Daily jobs that failed or found a problem"), _job_problems,
                       "jobs.index")


def job_alert(tenant: Tenant, run) -> None:
    """A job failed for good, or a check found a difference: the township admins are told now."""
    tell_admins(tenant)


register_alert_listener(job_alert)


def tell_admins(tenant: Tenant) -> None:
    """Something the township admins must know happened now (a job failed for good, a check found a
    difference, fund coverage fell below its threshold): each active township admin's digest of
    today is made now, or recounted when there is one, so the console banner shows it at once. The
    digest is texted to an admin with a phone, after the staff quiet hours: a night's alert becomes
    that morning's one text (the 07:30 run recounts it and sends no second), and an alert after the
    morning's text was sent sends the digest again with the new count. Writes in the caller's
    transaction."""
    admins = select(RoleAssignment.user_id).where(RoleAssignment.role == TOWNSHIP_ADMIN)
    users = db.session.execute(select(User).where(User.status == User.ACTIVE, User.id.in_(admins))
                               .order_by(User.username)).scalars().all()
    day, now = clock.today(tenant), clock.now()
    for user in users:
        items = counts_for(actor_for(user))
        digest = db.session.execute(select(StaffDigest).where(StaffDigest.user_id == user.id,
                                                              StaffDigest.local_date == day)).scalar_one_or_none()
        if digest is None:
            _add_digest(user, day, items, now, tenant)
            continue
        digest.items = items
        if user.phone:
            _text_again(digest, now, tenant)


def _due(now, tenant: Tenant):
    return staff_quiet_until(now, tenant) or now


def _add_digest(user: User, day: date, items: list[dict], now, tenant: Tenant) -> None:
    """A new digest for `user`'s `day`, and its text when the user has a phone."""
    digest = StaffDigest(user_id=user.id, local_date=day, items=items, created_at=now)
    db.session.add(digest)
    db.session.flush()
    if user.phone:
        db.session.add(NotificationDelivery(digest_id=digest.id, channel=SMS, next_attempt_at=_due(now, tenant),
                                            created_at=now))


def _text_again(digest: StaffDigest, now, tenant: Tenant) -> None:
    """The digest's text goes (again): a sent or given-up one is sent anew; one still waiting will
    carry the new count when it goes; none yet (the phone was added since) is made."""
    D = NotificationDelivery
    d = db.session.execute(select(D).where(D.digest_id == digest.id, D.channel == SMS)).scalar_one_or_none()
    if d is None:
        db.session.add(D(digest_id=digest.id, channel=SMS, next_attempt_at=_due(now, tenant), created_at=now))
    elif d.state in (D.SENT, D.DEAD):
        d.state, d.attempts, d.next_attempt_at, d.claimed_at = D.PENDING, 0, _due(now, tenant), None
        d.sent_at = d.last_error = None


# --- counting --------------------------------------------------------------------------------------

def counts_for(actor: Actor) -> list[dict]:
    """[{"source", "count"}] of every registered source with something waiting, in name order."""
    out = []
    for name, source in sorted(SOURCES.items()):
        try:
            n = int(source.count(actor) or 0)
        except ServiceError:  # the role does not do that work, or its scope holds nothing
            n = 0
        if n > 0:
            out.append({"source": name, "count": n})
    return out


def staff_users() -> list[User]:
    """Active accounts holding any role other than villager."""
    staff = select(RoleAssignment.user_id).where(RoleAssignment.role != VILLAGER)
    return list(db.session.execute(select(User).where(User.status == User.ACTIVE, User.id.in_(staff))
                                   .order_by(User.username)).scalars())


def run(tenant: Tenant, day: date) -> dict:
    """The daily job's body: make the day's missing digests (and their texts), and recount those a
    night's job alert made before it. Commits."""
    token = _QUEUES.set({})
    try:
        users = staff_users()
        have = {d.user_id: d for d in db.session.execute(select(StaffDigest).where(StaffDigest.local_date == day))
                .scalars()}
        now = clock.now()
        for user in users:
            items = counts_for(actor_for(user))
            if user.id in have:
                if items and items != have[user.id].items:
                    have[user.id].items = items  # a night alert's digest becomes the morning's
            elif items:
                _add_digest(user, day, items, now, tenant)
        db.session.commit()
    finally:
        _QUEUES.reset(token)
    digests = select(StaffDigest.id).where(StaffDigest.local_date == day)
    texts = db.session.execute(select(func.count()).select_from(NotificationDelivery).where(
        NotificationDelivery.digest_id.in_(digests))).scalar_one()
    made = db.session.execute(select(func.count()).select_from(digests.subquery())).scalar_one()
    return {"staff": len(users), "digests": made, "texts": texts}


# --- showing ---------------------------------------------------------------------------------------

def _url(endpoint: str | None, tenant: Tenant) -> str | None:
    if not endpoint:
        return None
    try:
        return path(endpoint, tenant_slug=tenant.slug)
    except Exception:  # noqa: BLE001 - an endpoint that needs more than the slug: no link
        return None


def lines(digest: StaffDigest, tenant: Tenant) -> list[dict]:
    """[{"source", "label", "count", "url"}] of a digest, labels in the current language."""
    out = []
    for item in digest.items or []:
        source = SOURCES.get(item.get("source"))
        if source is None:  # a capability that is gone
            continue
        out.append({"source": source.name, "label": str(source.label), "count": int(item.get("count", 0)),
                    "url": _url(source.endpoint, tenant)})
    return out


def digest_text(digest: StaffDigest, locale: str, tenant: Tenant) -> str:
    with force_locale(locale):
        parts = [f"{line['label']} {line['count']}" for line in lines(digest, tenant)]
        return _("%(township)s, waiting for you: %(items)s.", township=tenant.name, items="; ".join(parts))


@action("account.view")
def today_for(actor: Actor) -> tuple[StaffDigest, list[dict]] | None:
    """The caller's digest of today (township time) and its lines, or None."""
    if actor.kind != "user" or actor.id is None:
        return None
    digest = db.session.execute(select(StaffDigest).where(StaffDigest.user_id == actor.id,
                                                          StaffDigest.local_date == clock.today())).scalar_one_or_none()
    if digest is None:
        return None
    return digest, lines(digest, current_tenant())
