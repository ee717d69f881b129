"""How applications come to be (self-application, proxy entry, staff records and batch sheets) and
how the work team and the certification panel judge them. States change only through
`workflow.move`; every function here is an action with a policy in `platform.roles.authz`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.db import db, parse_uuid
from jifen.platform.errors import Conflict, InputConflict, Invalid, NotFound, refuse
from jifen.platform.files.service import attach_staged, store_image, take_staged
from jifen.platform.input import Day, Text, Uuid, Whole, check
from jifen.platform.input import value as checked
from jifen.platform.roles.authz import Actor, action, authorize, scope_ids
from jifen.platform.roles.registry import register_scope_path
from jifen.platform.schemas import INT_MAX, INT_MIN
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.households.models import ACTIVE, Household, Resident
from jifen.tenants.households.scopes import household_path
from jifen.tenants.notifications.service import notify
from jifen.tenants.points.models import (
    CARRY_OVER,
    PERIOD_END_POLICIES,
    PROXY,
    SELF,
    STAFF,
    Application,
    ApplicationPhoto,
    Batch,
    CertificationVote,
    PointsSettings,
)
from jifen.tenants.points.workflow import CERTIFIED, REJECTED, SUBMITTED, VERIFIED, item_title, move, require
from jifen.tenants.rulebook.adoption import EffectiveItem, rules_in_force
from jifen.tenants.rulebook.models import AWARD, RuleItem
from jifen.tenants.villages.models import GridNode

register_url_object("application_id", Application)
register_url_object("batch_id", Batch)
register_scope_path(Application, lambda a: household_path(tenant_get(Household, a.household_id)))

MAX_PHOTOS = 6
MAX_DESCRIPTION = 1000
MAX_REASON = 500
MAX_TITLE = MAX_NOTE = 200  # a batch sheet's title, a row's note
MAX_ITEM_REF = 36  # a rule item's id (a UUID) or its code (at most 32 characters)


# --- settings ----------------------------------------------------------------------------------

def settings() -> PointsSettings:
    """The township's points settings (defaults until an admin changes them)."""
    row = db.session.execute(select(PointsSettings)).scalar_one_or_none()
    return row or PointsSettings(quorum=2, notice_days=5, period_end=CARRY_OVER, carry_over_limit=None)


MAX_CARRY_OVER_LIMIT = 1_000_000
MAX_QUORUM, MAX_NOTICE_DAYS = 9, 30
QUORUM, NOTICE_DAYS, CARRY_OVER_LIMIT = Whole(1, MAX_QUORUM), Whole(1, MAX_NOTICE_DAYS), Whole(1, MAX_CARRY_OVER_LIMIT)
SETTINGS_FIELDS = ("quorum", "notice_days", "period_end", "carry_over_limit")


@action("points_settings.manage")
def update_settings(actor: Actor, data: dict) -> PointsSettings:
    """Change the settings. `period_end` and `carry_over_limit` may be left out (kept as they
    are); an empty `carry_over_limit` means no limit."""
    from jifen.platform.audit.service import record
    errors: dict = {}
    values = {}
    data = data or {}
    current = settings()
    for name, field in (("quorum", QUORUM), ("notice_days", NOTICE_DAYS)):
        values[name] = check(field, data.get(name), name, errors)
        if values[name] is None and name not in errors:
            errors[name] = [_("Enter a number from %(low)d to %(high)d.", low=field.low, high=field.high)]
    policy = data.get("period_end", current.period_end)
    values["period_end"] = policy.strip() if isinstance(policy, str) else policy
    if values["period_end"] not in PERIOD_END_POLICIES:
        errors["period_end"] = [_("Choose whether available points carry over or expire at the end of the year.")]
    values["carry_over_limit"] = check(CARRY_OVER_LIMIT, data.get("carry_over_limit", current.carry_over_limit),
                                       "carry_over_limit", errors)  # empty: no limit
    Invalid.raise_if(errors)
    row = db.session.execute(select(PointsSettings)).scalar_one_or_none()
    before = {name: getattr(row, name) for name in SETTINGS_FIELDS} if row else None
    if row is None:
        row = PointsSettings()
        db.session.add(row)
    for name in SETTINGS_FIELDS:
        setattr(row, name, values[name])
    db.session.flush()
    record(actor, "points_settings.update", row, before=before, after=values)
    db.session.flush()
    return row


# --- checking input ----------------------------------------------------------------------------

DESCRIPTION, TITLE, NOTE = Text(MAX_DESCRIPTION, required=True), Text(MAX_TITLE, required=True), Text(MAX_NOTE)
REASON, OPTIONAL_REASON = Text(MAX_REASON, required=True), Text(MAX_REASON)
DAY = Day(required=True)
POINTS = Whole(INT_MIN, INT_MAX)  # a magnitude (the sign is the item's); the item's range is checked apart


ITEM_REF = Text(MAX_ITEM_REF, required=True, required_message=_l("Choose a rule item."))

# Every check below writes a rule about the input alone into `errors` (refused with Invalid, 422)
# and a rule that depends on the township's data or the date into `conflicts` (InputConflict,
# 409, raised only when the input itself is fine).


def _conduct_day(value, errors: dict, conflicts: dict, field: str = "occurred_on") -> date | None:
    """The day the conduct happened: not in the future, not before last year (today decides)."""
    day = check(DAY, value, field, errors)
    if day is None:
        return None
    today = clock.today()
    if day > today:
        conflicts[field] = [_("The date can't be in the future.")]
    elif day.year < today.year - 1:
        conflicts[field] = [_("Only conduct from this year or last year can be applied for.")]
    return day


def _item_ref(value, errors: dict, field: str = "item_id") -> str | None:
    """An item id or code as given (not checked against the rulebook yet)."""
    return check(ITEM_REF, value, field, errors) or None


def _effective_item(village_id, item_ref: str | None, day: date | None, conflicts: dict,
                    field: str = "item_id") -> EffectiveItem | None:
    """The item as the village's rules of `day` give it. `item_ref` (see `_item_ref`) is an item
    id (of any version: the same code is looked up in the version of that day) or an item code."""
    if item_ref is None:
        return None
    item_id = parse_uuid(item_ref)
    if item_id is not None:
        item = tenant_get(RuleItem, item_id)
        code = item.code if item else None
    else:
        code = item_ref
    if not code:
        conflicts[field] = [_("No such rule item.")]
        return None
    if day is None:
        return None
    rules = rules_in_force(village_id, day)
    found = rules.by_code(code) if rules else None
    if found is None or not found.enabled:
        conflicts[field] = [_("This item was not in force in the village on %(day)s.", day=day.isoformat())]
        return None
    return found


def _points(eff: EffectiveItem, n: int | None, conflicts: dict, field: str = "points") -> int:
    """Points `n` (a magnitude, checked with POINTS; None: the item's usual points) within the
    item's range; fixed when the village set them. Returns the signed value."""
    sign = 1 if eff.item.direction == AWARD else -1
    if n is None:
        return sign * eff.points
    n = abs(n)
    if eff.overridden and n != eff.points:
        conflicts[field] = [_("This village gives exactly %(n)d points for this item.", n=eff.points)]
    elif not eff.item.points_min <= n <= eff.item.points_max:
        conflicts[field] = [_("Points for this item are from %(low)d to %(high)d.", low=eff.item.points_min,
                              high=eff.item.points_max)]
    return sign * n


def _household(actor: Actor, policy: str, household_id, conflicts: dict, field: str = "household_id") -> Household:
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, policy, household)
    if household.status != ACTIVE:
        conflicts[field] = [_("This household is no longer active.")]
    return household


def _new(actor: Actor, household: Household, eff: EffectiveItem, *, points: int, occurred_on: date,
         description: str, origin: str, state: str, batch_id=None, activity_id=None) -> Application:
    app = Application(household_id=household.id, village_id=household.village_id, item_id=eff.item.id,
                      item_code=eff.item.code, version_id=eff.item.version_id, points=points,
                      occurred_on=occurred_on, description=description, origin=origin, state=SUBMITTED,
                      submitted_by=actor.id, submitted_by_name=actor.name, batch_id=batch_id,
                      activity_id=activity_id)
    if state == VERIFIED:  # staff saw it happen: the recorder is the verifier
        app.verified_by, app.verified_by_name, app.verified_at = actor.id, actor.name, clock.now()
    db.session.add(app)
    db.session.flush()
    move(actor, app, "submit", state, points=points, authorized=True)
    return app


def _uploads(uploads) -> list:
    return [u for u in (uploads or []) if u is not None and getattr(u, "filename", "")]


def _photos(actor: Actor, app: Application, uploads, kept) -> None:
    """Attach the kept (staged) photos first, in their order, then the new uploads."""
    for i, stored in enumerate(kept):
        attach_staged(stored)
        db.session.add(ApplicationPhoto(application_id=app.id, file_id=stored.id, sort_order=i))
    for i, upload in enumerate(_uploads(uploads), start=len(kept)):
        stored = store_image(actor, upload, field="photos")  # not a JPEG or PNG: Invalid naming photos
        db.session.add(ApplicationPhoto(application_id=app.id, file_id=stored.id, sort_order=i))


def _check_photos(actor: Actor, eff: EffectiveItem | None, uploads, staged, errors: dict, conflicts: dict) -> list:
    """At most MAX_PHOTOS, kept and new together; at least one when the item needs evidence (the
    item decides). Returns the kept photos (staged ids of an earlier, refused try; only the
    uploader's own)."""
    kept, refused = take_staged(actor, staged)
    errors.update(refused)
    present = _uploads(uploads)
    if len(present) + len(kept) > MAX_PHOTOS:
        errors["photos"] = [_("At most %(n)d photos.", n=MAX_PHOTOS)]
    elif eff is not None and eff.item.evidence_required and not present and not kept and not refused:
        conflicts["photos"] = [_("This item needs at least one photo as evidence.")]
    return kept


# --- how applications come to be ---------------------------------------------------------------

@action("application.self_apply")
def self_apply(actor: Actor, household_id, data: dict, photos=None, staged=None) -> Application:
    """积分申请/自评: a household member applies for an award item on their phone."""
    conflicts: dict = {}
    household = _household(actor, "application.self_apply", household_id, conflicts)
    return _apply(actor, household, data, photos, staged, SELF, conflicts)


@action("application.proxy")
def proxy_apply(actor: Actor, household_id, data: dict, photos=None, staged=None) -> Application:
    """A grid worker files an application for a household without a phone (marked as proxy); the
    household can confirm it later."""
    conflicts: dict = {}
    household = _household(actor, "application.proxy", household_id, conflicts)
    app = _apply(actor, household, data, photos, staged, PROXY, conflicts)
    notify(household.id, "proxy_filed", f"proxy:{app.id}", link=f"applications/{app.id}", by=actor.name,
           item=item_title(app))
    return app


def _apply(actor: Actor, household: Household, data: dict, photos, staged, origin: str,
           conflicts: dict) -> Application:
    errors: dict = {}
    day = _conduct_day(data.get("occurred_on"), errors, conflicts)
    ref = _item_ref(data.get("item_id") or data.get("item_code"), errors)
    description = check(DESCRIPTION, data.get("description"), "description", errors)
    eff = _effective_item(household.village_id, ref, day, conflicts)
    if eff is not None:
        if eff.item.direction != AWARD or eff.item.initiator != "household":
            conflicts["item_id"] = [_("Only staff record this item; choose an item households apply for.")]
    kept = _check_photos(actor, eff, photos, staged, errors, conflicts)
    refuse(errors, conflicts)
    app = _new(actor, household, eff, points=eff.points, occurred_on=day, description=description,
               origin=origin, state=SUBMITTED)
    _photos(actor, app, photos, kept)
    db.session.flush()
    return app


@action("application.record")
def record_conduct(actor: Actor, household_id, data: dict, photos=None, staged=None) -> Application:
    """A staff record of observed conduct (award or deduction) for one household. The recorder is
    the work team, so it starts verified."""
    errors, conflicts = {}, {}
    household = _household(actor, "application.record", household_id, conflicts)
    day = _conduct_day(data.get("occurred_on"), errors, conflicts)
    ref = _item_ref(data.get("item_id") or data.get("item_code"), errors)
    description = check(DESCRIPTION, data.get("description"), "description", errors)
    magnitude = check(POINTS, data.get("points"), "points", errors)
    eff = _effective_item(household.village_id, ref, day, conflicts)
    points = _points(eff, magnitude, conflicts) if eff is not None else 0
    kept = _check_photos(actor, eff, photos, staged, errors, conflicts)
    refuse(errors, conflicts)
    app = _new(actor, household, eff, points=points, occurred_on=day, description=description, origin=STAFF,
               state=_after_verification(eff))
    _photos(actor, app, photos, kept)
    db.session.flush()
    return app


def _after_verification(eff: EffectiveItem) -> str:
    return CERTIFIED if eff.item.review == "verification" else VERIFIED


@action("application.record")
def record_batch(actor: Actor, data: dict) -> Batch:
    """A batch sheet: one item, one day, a score per household (e.g. a micro grid's monthly
    sanitation inspection). `data["rows"]` is [{"household_id", "points", "note"}]; a row with
    empty points is skipped. All rows are written, or none."""
    errors, conflicts = {}, {}
    day = _conduct_day(data.get("occurred_on"), errors, conflicts)
    rows = data.get("rows") or []
    title = check(TITLE, data.get("title"), "title", errors)
    ref = _item_ref(data.get("item_id") or data.get("item_code"), errors)
    grid_node_id = check(Uuid(), data.get("grid_node_id"), "grid_node_id", errors)
    if not isinstance(rows, list):
        rows = []
    given = []  # (row number, its points, its note, its household id) of the rows with points
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("points") in (None, ""):
            continue  # a household without a score is skipped
        points = check(POINTS, row.get("points"), f"rows.{i}.points", errors)
        note = check(NOTE, row.get("note"), f"rows.{i}.note", errors)
        household_id = check(Uuid(_("No such household.")), row.get("household_id"), f"rows.{i}.household_id",
                             errors)
        given.append((i, points, note, household_id))
    if not given:
        errors["rows"] = [_("Give at least one household a score.")]
    if errors:
        refuse(errors, conflicts)  # (the day may conflict too)
    households = []
    for i, points, note, household_id in given:
        household = tenant_get(Household, household_id)
        if household is None:
            conflicts[f"rows.{i}.household_id"] = [_("No such household.")]
            continue
        authorize(actor, "application.record", household)
        households.append((i, household, points, note))
    villages = {h.village_id for _i, h, _p, _n in households}
    if len(villages) > 1:
        conflicts["rows"] = [_("A batch sheet covers households of one village.")]
    village_id = next(iter(villages)) if len(villages) == 1 else None
    if grid_node_id is not None and tenant_get(GridNode, grid_node_id) is None:
        conflicts["grid_node_id"] = [_("No such grid.")]
    eff = _effective_item(village_id, ref, day, conflicts) if village_id else None
    scored = []
    for i, household, points, note in households:
        if eff is None:
            break
        if household.status != ACTIVE:
            conflicts[f"rows.{i}.household_id"] = [_("This household is no longer active.")]
        scored.append((household, _points(eff, points, conflicts, field=f"rows.{i}.points"), note))
    InputConflict.raise_if(conflicts)
    batch = Batch(village_id=village_id, grid_node_id=grid_node_id, item_id=eff.item.id,
                  title=title, occurred_on=day, row_count=len(scored), created_by=actor.id,
                  created_by_name=actor.name)
    db.session.add(batch)
    db.session.flush()
    for household, points, note in scored:
        _new(actor, household, eff, points=points, occurred_on=day, description=note or title, origin=STAFF,
             state=_after_verification(eff), batch_id=batch.id)
    db.session.flush()
    return batch


def staff_submit_for_activity(actor: Actor, household: Household, eff: EffectiveItem, *, occurred_on: date,
                              description: str, activity_id, checked_in: bool) -> Application:
    """Attendance becomes an application: staff-marked attendance starts verified, a self
    check-in waits for verification. The caller (activities) has checked the actor's rights."""
    from jifen.tenants.points.models import ACTIVITY
    state = SUBMITTED if checked_in else _after_verification(eff)
    sign = 1 if eff.item.direction == AWARD else -1
    return _new(actor, household, eff, points=sign * eff.points, occurred_on=occurred_on, description=description,
                origin=ACTIVITY, state=state, activity_id=activity_id)


# --- the household's own steps -----------------------------------------------------------------

def lock_application(application_id) -> Application:
    """Load and lock the application row: concurrent steps on one application take turns."""
    app_id = parse_uuid(application_id)
    app = db.session.execute(select(Application).where(Application.id == app_id).with_for_update()
                             .execution_options(populate_existing=True)).scalar_one_or_none() if app_id else None
    if app is None:
        raise NotFound(_("Not found."))
    return app


@action("application.view")
def get_application(actor: Actor, application_id) -> Application:
    app = tenant_get_or_404(Application, application_id)
    authorize(actor, "application.view", app)
    return app


@action("application.confirm")
def confirm(actor: Actor, application_id) -> Application:
    """The household confirms an application a grid worker filed for it."""
    app = lock_application(application_id)
    if app.origin != PROXY:
        raise Invalid.field("origin", _("Only an application filed on the household's behalf needs confirming."))
    if app.confirmed_at is not None:
        return app
    move(actor, app, "confirm", app.state)
    app.confirmed_at = clock.now()
    db.session.flush()
    return app


@action("application.withdraw")
def withdraw(actor: Actor, application_id) -> Application:
    app = lock_application(application_id)
    move(actor, app, "withdraw", "withdrawn")
    db.session.flush()
    return app


# --- verification by the work team -------------------------------------------------------------

@action("application.verify")
def verify(actor: Actor, application_id, data: dict | None = None) -> Application:
    """Accept, optionally adjusting points within the item's range (a reason is then required).
    Verification-only items go straight on to public notice."""
    data = data or {}
    app = lock_application(application_id)
    authorize(actor, "application.verify", app)
    require(app, "verify")
    refuse_own_proxy(actor, app)
    errors, conflicts = {}, {}
    magnitude = check(POINTS, data.get("points"), "points", errors)
    reason = check(OPTIONAL_REASON, data.get("reason"), "reason", errors)
    Invalid.raise_if(errors)
    eff = _effective_item(app.village_id, app.item_code, app.occurred_on, conflicts)
    if eff is None:
        raise InputConflict.field("item_id", conflicts["item_id"][0])
    points = _points(eff, magnitude, conflicts) if magnitude is not None else app.points
    if points != app.points and not reason and "points" not in conflicts:  # the application's points decide
        conflicts["reason"] = [_("Say why the points were changed.")]
    InputConflict.raise_if(conflicts)
    app.points = points
    app.verified_by, app.verified_by_name, app.verified_at = actor.id, actor.name, clock.now()
    move(actor, app, "verify", _after_verification(eff), reason=reason, points=points, authorized=True)
    db.session.flush()
    return app


@action("application.verify")
def reject(actor: Actor, application_id, data: dict) -> Application:
    app = lock_application(application_id)
    errors: dict = {}
    reason = check(REASON, (data or {}).get("reason"), "reason", errors)
    authorize(actor, "application.verify", app)
    Invalid.raise_if(errors)
    app.reject_reason = reason
    move(actor, app, "reject", REJECTED, reason=reason)
    db.session.flush()
    return app


def filed_by(actor: Actor, app: Application) -> bool:
    """Separation of duties: a proxy entry was filed by this person for a household, so they are
    its author and may not also approve it (verify, or vote to certify). A staff record is not
    covered: by design its recorder saw the conduct and is its verifier (`_new`)."""
    return app.origin == PROXY and app.submitted_by is not None and app.submitted_by == actor.id


def refuse_own_proxy(actor: Actor, app: Application, field: str = "application_id") -> None:
    if filed_by(actor, app):
        raise InputConflict.field(field, _("You filed this application on the household's behalf, so someone "
                                           "else must approve it (separation of duties)."))


# --- certification by the panel ----------------------------------------------------------------

def own_households(actor: Actor) -> set:
    """Households the actor belongs to: their villager grants, and households with a current member
    whose phone is the account's phone (a panel member may not certify for these)."""
    own = set(scope_ids(actor, "application.self_apply", "household") or set())
    phone = getattr(actor.account, "phone", None) if actor.kind == "user" else None
    if phone:
        own |= set(db.session.execute(select(Resident.household_id).where(
            Resident.phone == phone, Resident.left_on.is_(None))).scalars())
    return own


@dataclass(frozen=True)
class Tally:
    approvals: int
    rejections: int
    quorum: int
    voters: list


def tally(application_id) -> Tally:
    votes = db.session.execute(select(CertificationVote).where(CertificationVote.application_id == application_id)
                               .order_by(CertificationVote.created_at)).scalars().all()
    return Tally(sum(v.decision == "approve" for v in votes), sum(v.decision == "reject" for v in votes),
                 settings().quorum, votes)


@action("application.certify")
def vote(actor: Actor, application_id, data: dict) -> Application:
    """A panel member approves or rejects (with a reason). When approvals reach the township's
    quorum the application is certified; when rejections do, it is rejected."""
    app = lock_application(application_id)
    authorize(actor, "application.certify", app)
    decision = str((data or {}).get("decision", "")).strip()
    errors: dict = {}
    if decision not in ("approve", "reject"):
        errors["decision"] = [_("Choose approve or reject.")]
    reason = check(REASON if decision == "reject" else OPTIONAL_REASON, (data or {}).get("reason"), "reason", errors)
    if decision == "reject" and "reason" in errors:
        errors["reason"] = [_("Say why it is rejected.")]
    Invalid.raise_if(errors)
    require(app, "vote")
    if app.household_id in own_households(actor):
        raise InputConflict.field("decision", _("You may not certify points for your own household."))
    if decision == "approve":
        refuse_own_proxy(actor, app, field="decision")
    if db.session.execute(select(func.count()).select_from(CertificationVote).where(
            CertificationVote.application_id == app.id, CertificationVote.member_id == actor.id)).scalar_one():
        raise Conflict(_("You have already decided on this application."), {"decision": [_("Already decided.")]})
    db.session.add(CertificationVote(application_id=app.id, member_id=actor.id, member_name=actor.name,
                                     decision=decision, reason=reason))
    db.session.flush()
    move(actor, app, "vote" if decision == "approve" else "oppose", VERIFIED, reason=reason, authorized=True)
    t = tally(app.id)
    if t.approvals >= t.quorum:
        app.certified_at = clock.now()
        app.certified_by_names = "、".join(v.member_name for v in t.voters if v.decision == "approve")[:300]
        move(actor, app, "certify", CERTIFIED, authorized=True)
    elif t.rejections >= t.quorum:
        app.reject_reason = "；".join(v.reason for v in t.voters if v.decision == "reject")[:500]
        move(actor, app, "decline", REJECTED, reason=app.reject_reason, authorized=True)
    db.session.flush()
    return app


# --- lists and queues ----------------------------------------------------------------------------

MAX_PER_PAGE = 100


def _in_scope(actor: Actor, action_name: str):
    """SQL condition on Household for the actor's area under `action_name` (None: the township)."""
    from jifen.tenants.households.service import scope_condition
    return scope_condition(actor, action_name)


@action("application.list")
def list_applications(actor: Actor, *, state: str | None = None, village_id=None, household_id=None, batch_id=None,
                      page: int = 1, per_page: int = 20):
    """Applications in the actor's area (a villager: their own household's), newest first; each row
    is (application, household)."""
    from jifen.platform.paging import Page
    from jifen.tenants.points.workflow import STATES
    conditions = []
    scope = _in_scope(actor, "application.list")
    if scope is not None:
        conditions.append(scope)
    if state:
        if state not in STATES:
            raise Invalid.field("state", _("Unknown state."))
        conditions.append(Application.state == state)
    for name, column, value in (("village_id", Application.village_id, village_id),
                                ("household_id", Application.household_id, household_id),
                                ("batch_id", Application.batch_id, batch_id)):
        if value not in (None, ""):
            ident = parse_uuid(value)
            if ident is None:
                raise Invalid.field(name, _("Not found."))
            conditions.append(column == ident)
    page = checked(Whole(1, INT_MAX), page, "page") or 1
    per_page = checked(Whole(1, MAX_PER_PAGE), per_page, "per_page") or 20
    base = select(Application, Household).join(Household, Household.id == Application.household_id).where(*conditions)
    total = db.session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = db.session.execute(base.order_by(Application.created_at.desc(), Application.id)
                              .offset((page - 1) * per_page).limit(per_page)).all()
    return Page([tuple(r) for r in rows], total, page, per_page)


@dataclass
class Queue:
    """The actor's work, oldest first: rows are (application, household) or, for objections,
    (objection, application, household)."""
    to_verify: list
    to_certify: list
    objections: list

    @property
    def count(self) -> int:
        return len(self.to_verify) + len(self.to_certify) + len(self.objections)


@action("application.list")
def work_queue(actor: Actor, limit: int = 200) -> Queue:
    """待办: applications to verify (submitted, in the actor's area), to certify (verified, in the
    panel member's village, not yet voted on by them, not their own household) and objections to
    decide (open, on items of their village)."""
    from jifen.platform.roles.authz import may
    from jifen.tenants.points.models import Objection
    from jifen.tenants.points.workflow import OBJECTED

    def rows(policy: str, *where, order):
        scope = _in_scope(actor, policy)
        query = (select(Application, Household).join(Household, Household.id == Application.household_id)
                 .where(*where))
        if scope is not None:
            query = query.where(scope)
        return [tuple(r) for r in db.session.execute(query.order_by(*order).limit(limit)).all()]

    to_verify, to_certify, objections = [], [], []
    if may(actor, "application.verify"):
        to_verify = rows("application.verify", Application.state == SUBMITTED,
                         order=(Application.created_at, Application.id))
    own = own_households(actor) if may(actor, "application.certify") or may(actor, "objection.decide") else set()
    if may(actor, "application.certify"):
        voted = select(CertificationVote.application_id).where(CertificationVote.member_id == actor.id)
        to_certify = [r for r in rows("application.certify", Application.state == VERIFIED,
                                      Application.id.not_in(voted),
                                      order=(Application.verified_at, Application.created_at, Application.id))
                      if r[0].household_id not in own]
    if may(actor, "objection.decide"):
        apps = {r[0].id: r for r in rows("objection.decide", Application.state == OBJECTED,
                                         order=(Application.updated_at, Application.id)) if r[0].household_id not in own}
        if apps:
            open_ones = db.session.execute(select(Objection).where(
                Objection.application_id.in_(list(apps)), Objection.status == Objection.OPEN)
                .order_by(Objection.created_at, Objection.id)).scalars().all()
            objections = [(o, *apps[o.application_id]) for o in open_ones]
    return Queue(to_verify, to_certify, objections)


def photos_of(application_id) -> list[ApplicationPhoto]:
    return list(db.session.execute(select(ApplicationPhoto).where(ApplicationPhoto.application_id == application_id)
                                   .order_by(ApplicationPhoto.sort_order)).scalars())


def photos_by_application(application_ids: list) -> dict:
    """The evidence for a page of the queue in one query: {application id: [photos in order]}."""
    found: dict = {}
    if application_ids:
        for p in db.session.execute(select(ApplicationPhoto).where(ApplicationPhoto.application_id.in_(application_ids))
                                    .order_by(ApplicationPhoto.application_id, ApplicationPhoto.sort_order)).scalars():
            found.setdefault(p.application_id, []).append(p)
    return found


def steps_of(application_id) -> list:
    from jifen.tenants.points.models import ApplicationStep
    return list(db.session.execute(select(ApplicationStep).where(ApplicationStep.application_id == application_id)
                                   .order_by(ApplicationStep.created_at, ApplicationStep.id)).scalars())


def applicant_households(actor: Actor, policy: str = "application.self_apply") -> list[Household]:
    """The households the actor may apply for themselves (a villager's own), active ones."""
    ids = scope_ids(actor, policy, "household") or set()
    if not ids:
        return []
    return list(db.session.execute(select(Household).where(Household.id.in_(list(ids)), Household.status == ACTIVE)
                                   .order_by(Household.door_plate)).scalars())


def items_for(village_id, day: date | None = None, *, household: bool) -> list[tuple]:
    """Enabled items in force in the village (today by default), grouped by category in the
    rulebook's order: [(category, [EffectiveItem, …])]. `household`: only award items households
    apply for themselves; otherwise every enabled item (staff records)."""
    from jifen.tenants.rulebook.models import RuleCategory
    rules = rules_in_force(village_id, day or clock.today())
    if rules is None:
        return []
    items = [e for e in rules.items if e.enabled
             and (not household or (e.item.direction == AWARD and e.item.initiator == "household"))]
    categories = {c.id: c for c in db.session.execute(select(RuleCategory)).scalars()}
    groups: dict = {}
    for e in sorted(items, key=lambda e: (e.item.sort_order, e.item.code)):
        groups.setdefault(e.item.category_id, []).append(e)
    order = sorted(groups, key=lambda cid: (categories[cid].sort_order, categories[cid].name_zh) if cid in categories
                   else (999, ""))
    return [(categories.get(cid), groups[cid]) for cid in order]
