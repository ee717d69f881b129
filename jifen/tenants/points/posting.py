"""Closing notices and posting their items to the ledger: the nightly job's work, idempotent.

An item posts when its notice has closed and it stands on notice (no open or upheld objection).
Workers take chunks of such items with `FOR UPDATE SKIP LOCKED`, so several workers (or a retry
overlapping a slow run) share the work and never post one item twice (they do wait on each other:
a chunk holds the tenant's audit chain head until it commits, see `post_ready`): the row lock and the state check make the second attempt a no-op, and the ledger's unique
source key would refuse it anyway. Within a chunk, items are taken in household order, so balance
rows are always locked in ascending order (no deadlocks between workers).
"""
from __future__ import annotations

from sqlalchemy import select, update

from jifen.platform.audit.service import lock_chain
from jifen.platform.db import db, utcnow
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_get, tenant_today
from jifen.tenants.points import ledger
from jifen.tenants.points.models import APPLICATION_SOURCE, Application, Notice
from jifen.tenants.points.workflow import ON_NOTICE, POSTED, move
from jifen.tenants.rulebook.models import RuleItem

CHUNK = 200


def close_due(today=None) -> int:
    """Close every open notice whose last day has passed."""
    today = today or tenant_today()
    n = db.session.execute(update(Notice).where(Notice.status == Notice.OPEN, Notice.closes_on < today)
                           .values(status=Notice.CLOSED, closed_at=utcnow())).rowcount
    db.session.commit()
    return n


def post_one(actor: Actor, app: Application, items: dict | None = None) -> bool:
    """Post a locked application standing on a closed notice. False if it is no longer postable."""
    if app.state != ON_NOTICE:
        return False
    item = (items or {}).get(app.item_id) or tenant_get(RuleItem, app.item_id)
    if items is not None:
        items[app.item_id] = item
    posted = ledger.earn(household_id=app.household_id, points=app.points, occurred_on=app.occurred_on,
                         source_kind=APPLICATION_SOURCE, source_id=app.id, item=item, version_id=app.version_id,
                         memo=f"{item.title_zh}：{app.description}"[:300], certified_by=app.certified_by_names
                         or app.verified_by_name, created_by=actor.id, created_by_name=actor.name)
    app.posted_points, app.capped_points, app.posted_at = posted.transaction.points, posted.capped, utcnow()
    move(actor, app, "post", POSTED, points=posted.transaction.points,
         notify_params={"item": item.title_zh, "points": posted.transaction.points, "capped": posted.capped})
    return True


def _postable(limit: int):
    closed = select(Notice.id).where(Notice.status == Notice.CLOSED)
    return (select(Application).where(Application.state == ON_NOTICE, Application.notice_id.in_(closed))
            .order_by(Application.household_id, Application.id).limit(limit)
            .with_for_update(of=Application, skip_locked=True).execution_options(populate_existing=True))


def post_ready(actor: Actor, chunk: int = CHUNK) -> dict:
    """Post every postable item, a chunk per transaction. Returns counts, including the points
    caps held back (reported to the household and in the job result)."""
    posted = capped = 0
    items: dict = {}
    while True:
        # every posting appends to the audit chain: take its head before any balance row, or two
        # workers deadlock (one holds the head and waits for a balance row the other holds while
        # that one waits for the head); workers therefore post one chunk at a time
        lock_chain()
        apps = db.session.execute(_postable(chunk)).scalars().all()
        if not apps:
            break
        for app in apps:
            if post_one(actor, app, items):
                posted += 1
                capped += bool(app.capped_points)
        db.session.commit()
    return {"posted": posted, "capped": capped}


def nightly(actor: Actor, today=None) -> dict:
    """The daily notices job: close ended notices, post what they carried, open new notices for
    certified items. Running it again the same day changes nothing."""
    from jifen.tenants.points.notices import publish_waiting
    closed = close_due(today)
    result = post_ready(actor)
    return {"closed": closed, **result, "published": publish_waiting(actor)}

