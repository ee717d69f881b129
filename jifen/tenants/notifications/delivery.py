"""Delivering the outbox through the household's external channel (the in-app inbox already has it).

1. Plan: a worker looks at `pending` notifications. Those of households that chose the inbox only
   (no preference row, or in_app), or older than NOTIFY_MAX_AGE_HOURS, become `in_app` in one
   statement. Each of the others gets one `NotificationDelivery` row for the household's channel
   (unique per notification and channel, inserted with ON CONFLICT DO NOTHING), due now or at the
   end of the household's quiet hours, and becomes `queued`.
2. Claim: due deliveries (pending, or failed and due for a retry) are taken with
   `FOR UPDATE SKIP LOCKED` and moved to `sending` (attempts + 1) by a compare-and-set UPDATE, then
   committed. Two workers never claim the same row: the lock keeps the second away on PostgreSQL,
   and the compare-and-set refuses a row whose state or attempts moved (SQLite, or any race).
3. Send: outside any transaction (no lock held while the provider answers). The message is
   rendered in the household's language; the delivery id goes to the provider as the idempotency
   key. Then a compare-and-set UPDATE records `sent`, `failed` with the next attempt after an
   exponential backoff, or `dead` after NOTIFY_MAX_ATTEMPTS failures or a permanent error.

The at-least-once edge: a worker that dies after the provider accepted the message but before the
`sent` commit leaves the row `sending`. After NOTIFY_SENDING_TIMEOUT it is claimed again and sent
again with the same delivery id; a provider (or gateway) that dedupes on that id sends nothing
new. One that does not would send it twice: that is the only way a message goes out twice.

Quiet hours are checked again when a delivery is claimed (a retry may fall into them): then it is
put back, due at the end of the quiet hours, without counting an attempt.
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic

from flask import current_app
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform import clock, metrics
from jifen.platform.accounts.models import Operator, SetupLink, User
from jifen.platform.accounts.service import sent_link_secret
from jifen.platform.audit.service import record
from jifen.platform.citus.fan_out import fan_out
from jifen.platform.db import db, new_id
from jifen.platform.errors import Conflict
from jifen.platform.jobs.models import JobRun
from jifen.platform.roles.authz import Actor, action
from jifen.platform.tenancy import (
    current_tenant,
    current_tenant_id,
    register_url_object,
    tenant_get,
    tenant_get_or_404,
    tenant_scope,
)
from jifen.platform.townships.links import setup_url
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household
from jifen.tenants.notifications.channels import Channel, Message, Permanent, Retryable, channel_for
from jifen.tenants.notifications.digest import digest_text
from jifen.tenants.notifications.links import absolute, path
from jifen.tenants.notifications.models import (
    IN_APP,
    SMS,
    WECHAT,
    Notification,
    NotificationDelivery,
    NotificationPreference,
    StaffDigest,
)
from jifen.tenants.notifications.operator_alerts import alert_text
from jifen.tenants.notifications.preferences import head_phone
from jifen.tenants.notifications.quiet import quiet_until, staff_quiet_until
from jifen.tenants.notifications.service import text_of
from jifen.tenants.notifications.setup_links import link_text

register_url_object("delivery_id", NotificationDelivery)

D = NotificationDelivery
STATE_LABELS = {D.PENDING: _l("Waiting"), D.SENDING: _l("Sending"), D.SENT: _l("Sent"), D.FAILED: _l("Failed, will retry"),
                D.DEAD: _l("Given up")}
CHANNEL_NAMES = {SMS: _l("SMS"), WECHAT: _l("WeChat"), "log": _l("Log (no endpoint configured)")}
PROBLEM_STATES = (D.FAILED, D.DEAD)


def _cfg(name: str):
    return current_app.config[name]


# --- time helpers ------------------------------------------------------------------------------

def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failure: base, 2×base, 4×base … capped."""
    base, cap = int(_cfg("NOTIFY_RETRY_BASE_SECONDS")), int(_cfg("NOTIFY_RETRY_MAX_SECONDS"))
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


# --- 1. plan ----------------------------------------------------------------------------------

def _insert_ignore():
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(NotificationDelivery)


def plan(limit: int | None = None) -> int:
    """Decide the external delivery of pending notifications (at most `limit` given a channel);
    returns how many notifications left `pending`. Commits."""
    now = clock.now()
    limit = limit or int(_cfg("NOTIFY_BATCH"))
    external = select(NotificationPreference.household_id).where(NotificationPreference.channel != IN_APP)
    cutoff = now - timedelta(hours=float(_cfg("NOTIFY_MAX_AGE_HOURS")))
    done = db.session.execute(
        update(Notification).where(Notification.delivery == Notification.PENDING,
                                   or_(Notification.household_id.not_in(external), Notification.created_at < cutoff))
        .values(delivery=Notification.IN_APP).execution_options(synchronize_session=False)).rowcount or 0
    rows = db.session.execute(
        select(Notification).where(Notification.delivery == Notification.PENDING)
        .order_by(Notification.created_at, Notification.id).limit(limit)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)).scalars().all()
    if rows:
        prefs = {p.household_id: p for p in db.session.execute(select(NotificationPreference).where(
            NotificationPreference.household_id.in_({n.household_id for n in rows}))).scalars()}
        tz = current_tenant().timezone
        tenant_id = current_tenant_id()
        for n in rows:
            p = prefs.get(n.household_id)
            if p is None or p.channel == IN_APP:  # changed since the statement above
                n.delivery = Notification.IN_APP
                continue
            due = quiet_until(now, tz, p.quiet_start, p.quiet_end) or now
            # raw insert: the tenant is bound explicitly (reviewed; see tenancy.py)
            db.session.execute(_insert_ignore().values(
                tenant_id=tenant_id, id=new_id(), notification_id=n.id, household_id=n.household_id,
                channel=p.channel, state=D.PENDING, attempts=0, next_attempt_at=due, created_at=now,
            ).on_conflict_do_nothing(index_elements=["tenant_id", "notification_id", "channel"]))
            n.delivery = Notification.QUEUED
    db.session.commit()
    return done + len(rows)


# --- 2. claim ---------------------------------------------------------------------------------

def _due(now: datetime):
    stale = now - timedelta(seconds=float(_cfg("NOTIFY_SENDING_TIMEOUT")))
    return or_(and_(D.state.in_([D.PENDING, D.FAILED]), D.next_attempt_at <= now),
               and_(D.state == D.SENDING, D.claimed_at < stale))


@dataclass(frozen=True)
class Claim:
    id: uuid.UUID
    attempts: int  # after this claim: the compare-and-set key of the outcome
    claimed_at: datetime


def claim(limit: int | None = None) -> list[Claim]:
    """Take up to `limit` due deliveries for this worker (state `sending`). Commits."""
    now = clock.now()
    rows = db.session.execute(
        select(D.id, D.state, D.attempts).where(_due(now)).order_by(D.next_attempt_at, D.id)
        .limit(limit or int(_cfg("NOTIFY_BATCH"))).with_for_update(skip_locked=True)).all()
    claims = []
    for ident, state, attempts in rows:
        moved = db.session.execute(
            update(D).where(D.id == ident, D.state == state, D.attempts == attempts)
            .values(state=D.SENDING, attempts=attempts + 1, claimed_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if moved == 1:
            claims.append(Claim(ident, attempts + 1, now))
    db.session.commit()
    return claims


def _settle(c: Claim, **values) -> bool:
    """Record the outcome of our claim, unless someone else has claimed the row since."""
    moved = db.session.execute(
        update(D).where(D.id == c.id, D.state == D.SENDING, D.attempts == c.attempts)
        .values(**values).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return moved == 1


# --- 3. send ----------------------------------------------------------------------------------

def notification_link(tenant: Tenant, n: Notification) -> str:
    if not n.link:
        return absolute(path("ledger.me", tenant_slug=tenant.slug))
    if n.link.startswith("applications/"):
        try:
            return absolute(path("points_review.detail",
                                   tenant_slug=tenant.slug, application_id=n.link.split("/", 1)[1]))
        except Exception:  # noqa: BLE001 - a malformed link is sent as a plain path
            pass
    return absolute(f"/t/{tenant.slug}/{n.link}")


def render(n: Notification, locale: str) -> str:
    """The notification's text in `locale` (the same words the inbox shows)."""
    with force_locale(locale):
        return text_of(n)


def _local(tenant: Tenant, moment: datetime) -> str:
    return moment.astimezone(clock.zone(tenant)).strftime("%Y-%m-%d %H:%M")


def _message(d: NotificationDelivery, tenant: Tenant) -> Message | datetime:
    """The message to send, or the moment to put it off to (quiet hours)."""
    if d.notification_id is not None:
        n = tenant_get(Notification, d.notification_id)
        p = db.session.execute(select(NotificationPreference).where(
            NotificationPreference.household_id == n.household_id)).scalar_one_or_none()
        if p is not None:
            later = quiet_until(clock.now(), tenant.timezone, p.quiet_start, p.quiet_end)
            if later is not None:
                return later
        locale = (p.language if p else None) or tenant.default_locale
        if d.channel == SMS:
            to = (p.phone if p else None) or head_phone(n.household_id) or ""
        else:
            to = (p.wechat_openid if p else None) or ""
        return Message(str(d.id), d.channel, to, render(n, locale), locale, notification_link(tenant, n), n.kind,
                       tenant.slug, {"title": tenant.name, "when": _local(tenant, n.created_at)})
    if d.setup_link_id is not None:  # asked for now: no quiet hours
        link = tenant_get(SetupLink, d.setup_link_id)
        user = tenant_get(User, link.user_id)
        secret = sent_link_secret(link)
        if secret is None:
            raise Permanent("the setup link was used, replaced or has expired")
        locale = user.locale or tenant.default_locale
        return Message(str(d.id), d.channel, user.phone or "", link_text(user, link, tenant, locale), locale,
                       setup_url(tenant.slug, secret), "setup_link", tenant.slug,
                       {"title": tenant.name, "when": _local(tenant, d.created_at)})
    later = staff_quiet_until(clock.now(), tenant)  # a staff digest or an operator's alert
    if later is not None:
        return later
    if d.operator_id is not None:
        operator = db.session.get(Operator, d.operator_id)
        run = tenant_get(JobRun, d.job_run_id)
        locale = operator.locale or tenant.default_locale
        return Message(str(d.id), d.channel, operator.phone or "", alert_text(run, tenant, locale), locale,
                       absolute(path("county.jobs")), "job_alert", tenant.slug,
                       {"title": tenant.name, "when": _local(tenant, d.created_at)})
    digest = tenant_get(StaffDigest, d.digest_id)
    user = tenant_get(User, digest.user_id)
    locale = user.locale or tenant.default_locale
    return Message(str(d.id), d.channel, user.phone or "", digest_text(digest, locale, tenant), locale,
                   absolute(path("township.home", tenant_slug=tenant.slug)), "digest", tenant.slug,
                   {"title": tenant.name, "when": _local(tenant, digest.created_at)})


def send_one(c: Claim, channels: dict | None = None) -> str:
    """Send one claimed delivery; returns what became of it (sent, failed, dead, postponed, lost)."""
    tenant = current_tenant()
    d = db.session.execute(select(D).where(D.id == c.id).execution_options(populate_existing=True)).scalar_one()
    if d.state != D.SENDING or d.attempts != c.attempts:
        db.session.commit()
        return "lost"  # claimed again by another worker after our claim timed out
    try:
        message = _message(d, tenant)
    except Permanent as e:  # nothing left to send (a setup link no longer works)
        db.session.rollback()
        return D.DEAD if _settle(c, state=D.DEAD, last_error=str(e)[:500]) else "lost"
    except Exception as e:  # noqa: BLE001 - a message that cannot be made never will be
        db.session.rollback()
        current_app.logger.exception("delivery %s: cannot make the message", c.id)
        return D.DEAD if _settle(c, state=D.DEAD, last_error=f"cannot make the message: {e!r}"[:500]) else "lost"
    db.session.commit()  # no transaction (and no lock) stays open while the provider answers
    if isinstance(message, datetime):
        return "postponed" if _settle(c, state=D.PENDING, attempts=c.attempts - 1, next_attempt_at=message,
                                      claimed_at=None) else "lost"
    channel: Channel = (channels or {}).get(d.channel) or channel_for(d.channel, current_app.config)
    try:
        result = channel.send(message)
    except Permanent as e:
        return D.DEAD if _settle(c, state=D.DEAD, last_error=str(e)[:500]) else "lost"
    except Exception as e:  # noqa: BLE001 - Retryable, or an adapter's own bug: try again later
        if not isinstance(e, Retryable):
            current_app.logger.exception("delivery %s: unexpected error in channel %s", c.id, d.channel)
        dead = c.attempts >= int(_cfg("NOTIFY_MAX_ATTEMPTS"))
        state = D.DEAD if dead else D.FAILED
        return state if _settle(c, state=state, last_error=(str(e) or type(e).__name__)[:500],
                                next_attempt_at=clock.now() + backoff(c.attempts)) else "lost"
    return D.SENT if _settle(c, state=D.SENT, sent_at=clock.now(), via=result.via, last_error=None,
                             provider_ref=result.provider_ref) else "lost"


def deliver_tenant(channels: dict | None = None) -> Counter:
    """Plan and send everything due in the current tenant, batch after batch, until nothing is left
    or NOTIFY_RUN_SECONDS have passed. Safe to run in several workers at once."""
    stats: Counter = Counter()
    deadline = monotonic() + float(_cfg("NOTIFY_RUN_SECONDS"))
    while True:
        planned = plan()
        stats["planned"] += planned
        claims = claim()
        for c in claims:
            outcome = send_one(c, channels)
            stats[outcome] += 1
            metrics.count("deliveries", outcome=outcome)
        if (not planned and not claims) or monotonic() > deadline:
            return stats


def _tenants_with_work(tenant_id=None) -> list[Tenant]:
    """Active townships with pending notifications or deliveries not yet settled (one query each,
    across tenants on purpose)."""
    pending = select(Notification.tenant_id).where(Notification.delivery == Notification.PENDING).distinct()
    open_ = select(D.tenant_id).where(D.state.in_([D.PENDING, D.FAILED, D.SENDING])).distinct()
    ids = set()
    for stmt in (pending, open_):
        ids |= set(db.session.execute(stmt.execution_options(**fan_out("notifications.due"))).scalars())
    if tenant_id is not None:
        ids &= {uuid.UUID(str(tenant_id))}
    if not ids:
        return []
    return list(db.session.execute(select(Tenant).where(Tenant.id.in_(ids), Tenant.status == Tenant.ACTIVE)
                                   .order_by(Tenant.slug)).scalars())


def deliver_all(tenant_id=None, channels: dict | None = None) -> dict:
    """What the worker task runs: every township with work (or just one)."""
    total: Counter = Counter()
    tenants = _tenants_with_work(tenant_id)
    db.session.commit()
    for tenant in tenants:
        with tenant_scope(tenant):
            total += deliver_tenant(channels)
    return {"tenants": len(tenants), **dict(sorted(total.items()))}


def open_delivery_counts() -> dict:
    """Deliveries not sent, by state, over all townships (the metrics read it at each scrape)."""
    found = dict(db.session.execute(select(D.state, func.count()).where(D.state != D.SENT).group_by(D.state)
                                    .execution_options(**fan_out("metrics.gauges"))).all())
    return {state: found.get(state, 0) for state in (D.PENDING, D.SENDING, D.FAILED, D.DEAD)}


metrics.register_stored_gauge("jifen_notification_deliveries_open", "Notification deliveries not sent, by state",
                              "state", open_delivery_counts)


# --- the admin's view -------------------------------------------------------------------------

@dataclass
class Row:
    delivery: NotificationDelivery
    recipient: str  # household (door plate · head) or staff member
    household_id: uuid.UUID | None
    kind: str
    text: str = ""  # the message, in the reader's language


@action("delivery.view")
def list_deliveries(actor: Actor, states: tuple = PROBLEM_STATES, limit: int = 100) -> list[Row]:
    """Deliveries in these states, most recent first, with who they are for."""
    return _describe(list(db.session.execute(select(D).where(D.state.in_(list(states)))
                                             .order_by(D.created_at.desc(), D.id.desc()).limit(limit)).scalars()))


@action("delivery.view")
def delivery_row(actor: Actor, delivery_id) -> Row:
    return _describe([tenant_get_or_404(D, delivery_id)])[0]


def _describe(rows: list[NotificationDelivery]) -> list[Row]:
    notifications = {n.id: n for n in db.session.execute(select(Notification).where(
        Notification.id.in_([d.notification_id for d in rows if d.notification_id]))).scalars()} if rows else {}
    households = {h.id: h for h in db.session.execute(select(Household).where(
        Household.id.in_([d.household_id for d in rows if d.household_id]))).scalars()} if rows else {}
    digests = {s.id: s for s in db.session.execute(select(StaffDigest).where(
        StaffDigest.id.in_([d.digest_id for d in rows if d.digest_id]))).scalars()} if rows else {}
    users = {u.id: u for u in db.session.execute(select(User).where(
        User.id.in_([s.user_id for s in digests.values()]))).scalars()} if digests else {}
    links = {k.id: k for k in db.session.execute(select(SetupLink).where(
        SetupLink.id.in_([d.setup_link_id for d in rows if d.setup_link_id]))).scalars()} if rows else {}
    users = users | ({u.id: u for u in db.session.execute(select(User).where(
        User.id.in_([k.user_id for k in links.values()]))).scalars()} if links else {})
    operators = {o.id: o for o in db.session.execute(select(Operator).where(
        Operator.id.in_([d.operator_id for d in rows if d.operator_id]))).scalars()} if rows else {}
    runs = {r.id: r for r in db.session.execute(select(JobRun).where(
        JobRun.id.in_([d.job_run_id for d in rows if d.job_run_id]))).scalars()} if operators else {}
    out = []
    for d in rows:
        if d.notification_id:
            h = households.get(d.household_id)
            n = notifications.get(d.notification_id)
            out.append(Row(d, f"{h.door_plate} · {h.head_name}" if h else "", d.household_id, n.kind if n else "",
                           text_of(n) if n else ""))
        elif d.setup_link_id:  # the link itself is its owner's only
            k = links.get(d.setup_link_id)
            u = users.get(k.user_id) if k else None
            out.append(Row(d, u.display_name if u else "", None, "setup_link"))
        elif d.operator_id:
            o, run = operators.get(d.operator_id), runs.get(d.job_run_id)
            out.append(Row(d, o.display_name if o else "", None, "job_alert",
                           alert_text(run, current_tenant(), str(get_locale())) if run else ""))
        else:
            s = digests.get(d.digest_id)
            u = users.get(s.user_id) if s else None
            out.append(Row(d, u.display_name if u else "", None, "digest"))
    return out


@action("delivery.view")
def state_counts(actor: Actor) -> dict:
    counts = dict(db.session.execute(select(D.state, func.count()).group_by(D.state)).all())
    return {s: counts.get(s, 0) for s in D.STATES}


@action("delivery.retry")
def retry(actor: Actor, delivery_id) -> NotificationDelivery:
    """Send a failed or dead delivery again now, with a fresh count of attempts."""
    d = tenant_get_or_404(D, delivery_id)
    d = db.session.execute(select(D).where(D.id == d.id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()
    if d.state not in PROBLEM_STATES:
        raise Conflict(_("Only failed or given-up deliveries can be retried."),
                       {"state": [_("This delivery is %(state)s.", state=STATE_LABELS.get(d.state, d.state))]})
    before = {"state": d.state, "attempts": d.attempts, "last_error": d.last_error}
    d.state, d.attempts, d.next_attempt_at, d.claimed_at = D.PENDING, 0, clock.now(), None
    db.session.flush()
    record(actor, "delivery.retry", d, before=before, after={"state": d.state, "attempts": 0})
    db.session.flush()
    return d
