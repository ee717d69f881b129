"""Closing notices and posting their items to the ledger: the nightly job's work, idempotent.

An item posts when its notice has closed and it stands on notice (no open or upheld objection).
A chunk is one transaction: it takes up to `CHUNK` postable items with `FOR UPDATE SKIP LOCKED`
(workers never wait for each other's items, and a retry overlapping a slow run skips what is being
posted; the state check makes a repeat a no-op and the ledger's unique source key would refuse it
anyway), locks their households' balance rows in one ordered statement, writes the entries, and
appends to the audit chain last, so the tenant-wide chain head is held only for the chunk's final
inserts and commit (lock order: see `ledger`). Chunks write their rows in a few statements
(`post_many`).
"""
from __future__ import annotations

import uuid
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime

from sqlalchemy import select, update

from jifen.platform import clock
from jifen.platform.bulk import collector_paused
from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import update_known
from jifen.tenants.points import ledger
from jifen.tenants.points.models import APPLICATION_SOURCE, Application, Notice
from jifen.tenants.points.workflow import ON_NOTICE, POSTED, Log, move
from jifen.tenants.rulebook.models import RuleItem

CHUNK = 500


def close_due(today=None) -> int:
    """Close every open notice whose last day has passed, committed before posting starts (the
    notices job's first chunk: see `platform.unit_of_work`)."""
    today = today or clock.today()
    n = db.session.execute(update(Notice).where(Notice.status == Notice.OPEN, Notice.closes_on < today)
                           .values(status=Notice.CLOSED, closed_at=clock.now())).rowcount
    db.session.commit()
    return n


@dataclass
class Postable:
    """An application to post, read as plain values (a chunk posts hundreds: no ORM object each).
    `move` and the audit entry take it as the application it is; `_write` stores what changed."""

    __tablename__ = Application.__tablename__
    id: uuid.UUID
    household_id: uuid.UUID
    item_id: uuid.UUID
    version_id: uuid.UUID
    points: int
    occurred_on: date
    description: str
    certified_by_names: str
    verified_by_name: str
    state: str
    updated_at: datetime | None = None
    posted_points: int | None = None
    capped_points: int | None = None
    posted_at: datetime | None = None

    @classmethod
    def of(cls, app: Application) -> Postable:
        return cls(*(getattr(app, f.name) for f in fields(cls)))


# the columns a chunk reads: the fields without a default (the rest are what posting writes)
_READ = [getattr(Application, f.name) for f in fields(Postable) if f.default is MISSING]


def _write(apps: list[Postable]) -> None:
    """Store the posted applications in one statement (copies loaded in the session follow)."""
    update_known(Application, [{"id": a.id, "state": a.state, "posted_points": a.posted_points,
                                "capped_points": a.capped_points, "posted_at": a.posted_at,
                                "updated_at": a.updated_at} for a in apps])


def post_many(actor: Actor, apps: list[Postable], items: dict | None = None) -> list[Postable]:
    """Post locked applications standing on a closed notice, in the caller's transaction, with a
    few statements for the lot: one balance lock, the entries in two inserts, the balances and the
    applications in one update each (`tenancy.update_known`), the steps, audit entries and
    notifications in one insert each (`tenancy.insert_new`), no ORM object per row. Applications
    no longer on notice are skipped (a second worker or a retry finds nothing to do). Returns the
    ones posted."""
    items = {} if items is None else items
    apps = [a for a in apps if a.state == ON_NOTICE]
    missing = {a.item_id for a in apps} - set(items)
    if missing:
        items.update({i.id: i for i in db.session.execute(select(RuleItem).where(RuleItem.id.in_(missing))).scalars()})
    posted = ledger.earn_many([ledger.Earning(
        household_id=a.household_id, points=a.points, occurred_on=a.occurred_on, source_kind=APPLICATION_SOURCE,
        source_id=a.id, item=items[a.item_id], version_id=a.version_id,
        memo=f"{items[a.item_id].title_zh}：{a.description}", certified_by=a.certified_by_names or a.verified_by_name,
        created_by=actor.id, created_by_name=actor.name) for a in apps])
    log, now = Log(), clock.now()
    for app, result in zip(apps, posted, strict=True):
        points = result.transaction.points
        app.posted_points, app.capped_points, app.posted_at = points, result.capped, now
        move(actor, app, "post", POSTED, points=points, log=log,
             notify_params={"item": items[app.item_id].title_zh, "points": points, "capped": result.capped})
    _write(apps)
    log.write()
    return apps


def post_one(actor: Actor, app: Application) -> bool:
    """Post one locked application; False if it is no longer postable (`app` shows the outcome)."""
    return bool(post_many(actor, [Postable.of(app)]))


def _postable(limit: int):
    closed = select(Notice.id).where(Notice.status == Notice.CLOSED)
    return (select(*_READ).where(Application.state == ON_NOTICE, Application.notice_id.in_(closed))
            .order_by(Application.household_id, Application.id).limit(limit)
            .with_for_update(of=Application, skip_locked=True))


def post_ready(actor: Actor, chunk: int = CHUNK) -> dict:
    """Post every postable item, a chunk per transaction (a chunk runner, the documented exception
    in `platform.unit_of_work`). Returns counts, including how many had
    points held back by a cap (reported to the household and in the job result)."""
    posted = capped = 0
    items: dict = {}
    while True:
        apps = [Postable(*row) for row in db.session.execute(_postable(chunk))]
        if not apps:
            break
        with collector_paused():  # a chunk makes ~1,500 short-lived objects
            done = post_many(actor, apps, items)
        posted += len(done)
        capped += sum(bool(a.capped_points) for a in done)
        db.session.commit()
    db.session.rollback()
    return {"posted": posted, "capped": capped}


def nightly(actor: Actor, today=None) -> dict:
    """The daily notices job: close ended notices, post what they carried, open new notices for
    certified items. Running it again the same day changes nothing."""
    from jifen.tenants.points.notices import publish_waiting
    closed = close_due(today)
    result = post_ready(actor)
    return {"closed": closed, **result, "published": publish_waiting(actor)}

