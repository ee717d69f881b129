"""Write a household's notification in the caller's transaction; read the in-app inbox."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.roles.authz import Actor, action, scope_ids
from jifen.tenants.notifications.models import Notification

# kind -> how the inbox says it; params are filled in the reader's language when shown
MESSAGES = {
    "verified": lambda p: _("Verified: %(item)s, %(points)s points.", **p),
    "rejected": lambda p: _("Not accepted: %(item)s. Reason: %(reason)s", **p),
    "certified": lambda p: _("Certified by the panel: %(item)s, %(points)s points.", **p),
    "on_notice": lambda p: _("On public notice until %(until)s: %(item)s, %(points)s points.", **p),
    "objected": lambda p: _("An objection was raised against %(item)s; the panel will decide.", **p),
    "objection_upheld": lambda p: _("The objection was upheld, %(item)s is not counted. Reason: %(reason)s", **p),
    "objection_dismissed": lambda p: _("The objection was dismissed: %(item)s stays on notice.", **p),
    "posted": lambda p: (_("Posted: %(item)s, %(points)s points; %(capped)s points were over the item's limit.", **p)
                         if p.get("capped") else _("Posted: %(item)s, %(points)s points are in your passbook.", **p)),
    "corrected": lambda p: _("Corrected: %(item)s is now %(points)s points. Reason: %(reason)s", **p),
    "proxy_filed": lambda p: _("%(by)s filed %(item)s for your household; please check and confirm.", **p),
}


def register_messages(messages: dict) -> None:
    """A capability adds the kinds it sends (kind -> params -> text); each kind is said in one place."""
    clash = set(messages) & set(MESSAGES)
    assert not clash, f"notification kinds defined twice: {clash}"
    MESSAGES.update(messages)


def notify(household_id, kind: str, dedupe_key: str, link: str = "", **params) -> None:
    """Add the outbox row to the current transaction. The same `dedupe_key` writes once."""
    exists = db.session.execute(select(Notification.id).where(Notification.dedupe_key == dedupe_key)).first()
    if exists is None:
        db.session.add(Notification(household_id=household_id, kind=kind, params=params, link=link,
                                    dedupe_key=dedupe_key[:120]))


def text_of(n: Notification) -> str:
    render = MESSAGES.get(n.kind)
    try:
        return render(n.params) if render else n.kind
    except (KeyError, ValueError):
        return n.kind


def _my_households(actor: Actor) -> list:
    return sorted(scope_ids(actor, "inbox.view", "household") or set())


@action("inbox.view")
def inbox(actor: Actor, limit: int = 50) -> list[Notification]:
    """The notifications of the actor's household(s), newest first."""
    households = _my_households(actor)
    if not households:
        return []
    return list(db.session.execute(select(Notification).where(Notification.household_id.in_(households))
                                   .order_by(Notification.created_at.desc()).limit(limit)).scalars())


@action("inbox.view")
def unread_count(actor: Actor) -> int:
    households = _my_households(actor)
    if not households:
        return 0
    return db.session.execute(select(func.count()).select_from(Notification).where(
        Notification.household_id.in_(households), Notification.read_at.is_(None))).scalar_one()


@action("inbox.view")
def mark_read(actor: Actor) -> int:
    households = _my_households(actor)
    if not households:
        return 0
    n = db.session.execute(update(Notification).where(Notification.household_id.in_(households),
                                                      Notification.read_at.is_(None))
                           .values(read_at=clock.now())).rowcount
    db.session.flush()
    return n
