"""公示: certified items go on a village's public notice; villagers of the village may object while
it is up; the panel decides objections. Closing and posting is in `posting.py`."""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.errors import InputConflict, Invalid, NotFound
from jifen.platform.input import check
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize, scope_ids
from jifen.platform.roles.registry import register_scope_path, register_scope_where
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.households.models import Household
from jifen.tenants.points.applications import REASON, lock_application, own_households, settings
from jifen.tenants.points.models import Application, Notice, Objection
from jifen.tenants.points.workflow import CERTIFIED, OBJECTED, ON_NOTICE, REJECTED, move, require
from jifen.tenants.villages.models import Village
from jifen.tenants.villages.scopes import village_area_path, village_area_where

register_url_object("notice_id", Notice)
register_url_object("objection_id", Objection)
register_scope_path(Notice, lambda n: village_area_path(n.village_id))
register_scope_where(Notice, village_area_where(Notice.village_id))


def _publish(actor: Actor, village: Village) -> Notice | None:
    apps = db.session.execute(select(Application).where(Application.village_id == village.id,
                                                        Application.state == CERTIFIED)
                              .order_by(Application.certified_at, Application.id).with_for_update()).scalars().all()
    if not apps:
        return None
    today = clock.today()
    number = (db.session.execute(select(func.max(Notice.number)).where(Notice.village_id == village.id))
              .scalar_one() or 0) + 1
    notice = Notice(village_id=village.id, number=number, opens_on=today,
                    closes_on=today + timedelta(days=settings().notice_days - 1), public_token=secrets.token_urlsafe(16),
                    item_count=len(apps), created_by=actor.id, created_by_name=actor.name)
    db.session.add(notice)
    db.session.flush()
    for app in apps:
        app.notice_id = notice.id
        move(actor, app, "publish", ON_NOTICE, authorized=True, notify_params={"until": notice.closes_on.isoformat()})
    return notice


@action("notice.publish")
def publish(actor: Actor, village_id) -> Notice:
    """Put every certified item of the village on a new notice, public for the township's notice
    period from today."""
    village = tenant_get_or_404(Village, village_id)
    authorize(actor, "notice.publish", village)
    notice = _publish(actor, village)
    if notice is None:
        raise InputConflict.field("village_id", _("No certified items are waiting for public notice in this village."))
    db.session.flush()
    return notice


def publish_waiting(actor: Actor) -> int:
    """The nightly job: a new notice for every village with certified items waiting, one village
    per transaction (a chunk runner, the documented exception in `platform.unit_of_work`)."""
    villages = db.session.execute(select(Village).where(Village.id.in_(
        select(Application.village_id).where(Application.state == CERTIFIED)))).scalars().all()
    count = 0
    for village in sorted(villages, key=lambda v: str(v.id)):
        count += _publish(actor, village) is not None
        db.session.commit()
    return count


def is_open(notice: Notice) -> bool:
    return notice.status == Notice.OPEN and notice.opens_on <= clock.today() <= notice.closes_on


@action("notice.list")
def list_notices(actor: Actor, village_id=None, limit: int = 100) -> list[Notice]:
    """Newest first, in the actor's villages."""
    query = reach.filtered(select(Notice), actor, "notice.list", Notice)
    query = query.order_by(Notice.opens_on.desc(), Notice.number.desc()).limit(limit)
    if village_id is not None:
        query = query.where(Notice.village_id == village_id)
    return list(db.session.execute(query).scalars())


@action("notice.view")
def get_notice(actor: Actor, notice_id) -> Notice:
    notice = tenant_get_or_404(Notice, notice_id)
    authorize(actor, "notice.view", notice)
    return notice


def notice_by_token(token: str) -> Notice:
    """The public page: anyone with the link. The tenant is already resolved from the URL."""
    notice = db.session.execute(select(Notice).where(Notice.public_token == str(token)[:32])).scalar_one_or_none()
    if notice is None:
        raise NotFound(_("Not found."))
    return notice


def notice_items(notice: Notice) -> list[tuple[Application, Household]]:
    """Every application that went on this notice (including ones since rejected on objection),
    in door-plate order within the village."""
    rows = db.session.execute(select(Application, Household).join(Household, Household.id == Application.household_id)
                              .where(Application.notice_id == notice.id)).all()
    return sorted(rows, key=lambda r: (r[1].door_plate, str(r[0].id)))


def _villager_households_in(actor: Actor, village_id) -> list:
    own = scope_ids(actor, "notice.object", "household") or set()
    if not own:
        return []
    return list(db.session.execute(select(Household.id).where(Household.id.in_(list(own)),
                                                              Household.village_id == village_id)).scalars())


def may_object(actor: Actor, app: Application, notice: Notice) -> bool:
    return (app.state in (ON_NOTICE, OBJECTED) and is_open(notice)
            and bool(_villager_households_in(actor, notice.village_id)))


@action("notice.object")
def object_to(actor: Actor, application_id, data: dict) -> Objection:
    """A villager of the village contests an item while its notice is up; the item goes back to
    the panel."""
    app = lock_application(application_id)
    notice = tenant_get(Notice, app.notice_id) if app.notice_id else None
    households = _villager_households_in(actor, app.village_id)
    if notice is None or not households:
        raise NotFound(_("Not found."))
    errors: dict = {}
    reason = check(REASON, (data or {}).get("reason"), "reason", errors)
    if "reason" in errors and not reason:
        errors["reason"] = [_("Say what is wrong with this item.")]
    Invalid.raise_if(errors)
    if not is_open(notice):
        raise InputConflict.field("notice", _("The notice period is over; objections are no longer taken."))
    require(app, "object")
    objection = Objection(application_id=app.id, notice_id=notice.id, household_id=sorted(households, key=str)[0],
                          objector_id=actor.id, objector_name=actor.name, reason=reason)
    db.session.add(objection)
    db.session.flush()
    move(actor, app, "object", OBJECTED, reason=reason, authorized=True)
    db.session.flush()
    return objection


@action("objection.decide")
def decide(actor: Actor, objection_id, data: dict) -> Objection:
    """The panel upholds an objection (the item is rejected) or dismisses it with a reason (the item
    goes back on notice once no objection is open)."""
    objection = tenant_get_or_404(Objection, objection_id)
    app = lock_application(objection.application_id)
    authorize(actor, "objection.decide", app)
    errors: dict = {}
    decision = str((data or {}).get("decision", "")).strip()
    if decision not in ("uphold", "dismiss"):
        errors["decision"] = [_("Choose uphold or dismiss.")]
    reason = check(REASON, (data or {}).get("reason"), "reason", errors)
    if "reason" in errors and not reason:
        errors["reason"] = [_("Say why.")]
    Invalid.raise_if(errors)
    if app.household_id in own_households(actor):
        raise InputConflict.field("decision", _("You may not decide on your own household's points."))
    if objection.status != Objection.OPEN:
        raise InputConflict.field("decision", _("This objection has already been decided."))
    require(app, "uphold" if decision == "uphold" else "dismiss")
    # upholding one objection rejects the item, which answers every other open objection to it too
    decided = [objection] if decision == "dismiss" else db.session.execute(select(Objection).where(
        Objection.application_id == app.id, Objection.status == Objection.OPEN)).scalars().all()
    for o in decided:
        o.status = Objection.UPHELD if decision == "uphold" else Objection.DISMISSED
        o.decided_by, o.decided_by_name = actor.id, actor.name
        o.decision_reason, o.decided_at = reason, clock.now()
    db.session.flush()
    if decision == "uphold":
        app.reject_reason = reason
        move(actor, app, "uphold", REJECTED, reason=reason, authorized=True)
    else:
        still_open = db.session.execute(select(func.count()).select_from(Objection).where(
            Objection.application_id == app.id, Objection.status == Objection.OPEN)).scalar_one()
        move(actor, app, "dismiss", OBJECTED if still_open else ON_NOTICE, reason=reason, authorized=True)
    db.session.flush()
    return objection


def open_notices_in(village_id) -> list[Notice]:
    """The village's notices up today, newest first: what a villager of the village may object to."""
    today = clock.today()
    return list(db.session.execute(select(Notice).where(
        Notice.village_id == village_id, Notice.status == Notice.OPEN, Notice.opens_on <= today,
        Notice.closes_on >= today).order_by(Notice.opens_on.desc(), Notice.number.desc())).scalars())


def objected_by(actor: Actor, notice: Notice) -> set:
    """The items of the notice this person has objected to (their own page says so; nobody else
    sees who objected but the panel)."""
    if actor is None or actor.kind != "user":
        return set()
    return set(db.session.execute(select(Objection.application_id).where(
        Objection.notice_id == notice.id, Objection.objector_id == actor.id)).scalars())


def objections_of(application_id) -> list[Objection]:
    return list(db.session.execute(select(Objection).where(Objection.application_id == application_id)
                                   .order_by(Objection.created_at)).scalars())
