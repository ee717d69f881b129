"""Activities (志愿服务, 集中整治行动, 党员志愿者服务): creating them, sign-up, attendance marked by
staff or checked in by villagers with the activity's code, and the participation report.

Attendance becomes an application of the activity's rule item (as the village's rules of the day
give it) through `points.applications.staff_submit_for_activity`; the applications table allows one
application per activity and household, and attendance rows are unique per activity and household,
so marking twice changes nothing. The activity row is locked (SELECT … FOR UPDATE) while
attendance is written, so two people marking at once take turns.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from jifen.platform import clock
from jifen.platform.db import db, parse_uuid
from jifen.platform.errors import Conflict, InputConflict, Invalid, NotFound
from jifen.platform.input import Day, Text, Uuid, check, value
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize, may, scope_ids
from jifen.platform.roles.registry import register_scope_path, register_scope_where
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.activities.models import Activity, ActivitySignup, Attendance
from jifen.tenants.households.models import ACTIVE, Household, HouseholdTag
from jifen.tenants.households.service import all_tags, scope_condition
from jifen.tenants.points.applications import staff_submit_for_activity
from jifen.tenants.points.models import Application
from jifen.tenants.points.workflow import PENDING, POSTED, STATES
from jifen.tenants.rulebook.adoption import EffectiveItem, rules_in_force
from jifen.tenants.rulebook.service import MAX_CODE as MAX_ITEM_CODE
from jifen.tenants.villages.models import Village
from jifen.tenants.villages.scopes import village_area_path, village_area_where

register_url_object("activity_id", Activity)


def activity_path(activity: Activity) -> dict[str, set]:
    """An activity belongs to its whole village: its village staff, the grid workers of any grid
    in it, and the villagers of its active households reach it."""
    path = village_area_path(activity.village_id)
    path["household"] = set(db.session.execute(select(Household.id).where(
        Household.village_id == activity.village_id, Household.status == ACTIVE)).scalars())
    return path


def activity_where(column) -> dict:
    """`activity_path` as SQL on a village-id column."""
    return village_area_where(column) | {"household": lambda ids: column.in_(select(Household.village_id).where(
        Household.id.in_(list(ids)), Household.status == ACTIVE))}


@dataclass(frozen=True)
class ActivityVillage:
    """A village as the place of activities (the list's village filter)."""

    village_id: uuid.UUID


register_scope_path(Activity, activity_path)
register_scope_where(Activity, activity_where(Activity.village_id))
register_scope_path(ActivityVillage, lambda v: activity_path(Activity(village_id=v.village_id)))
register_scope_where(ActivityVillage, activity_where(Village.id))

MAX_TITLE = 200
MAX_PLACE = 200
MAX_DESCRIPTION = 2000
CHECKIN_DAYS = 1  # a self check-in is taken from the day before to the day after held_on
MAX_MARK = 2000  # households in one attendance request
MAX_CHECKIN_INPUT = 32  # what a villager types for the 6-digit code (spaces between the digits are ignored)


# --- input -------------------------------------------------------------------------------------

TITLE, PLACE, DESCRIPTION = Text(MAX_TITLE, required=True), Text(MAX_PLACE), Text(MAX_DESCRIPTION)
HELD_ON = Day(required=True)
ITEM_CODE = Text(MAX_ITEM_CODE, required=True, required_message=_l("Choose a rule item."))
CHECKIN_CODE = Text(MAX_CHECKIN_INPUT, required=True, required_message=_l("Enter the check-in code."))


def new_checkin_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def effective_item(village_id, item_code: str, day: date) -> EffectiveItem | None:
    """The activity's item as the village's rules of `day` give it, if it is in force and enabled."""
    rules = rules_in_force(village_id, day)
    found = rules.by_code(item_code) if rules and item_code else None
    return found if found is not None and found.enabled else None


def item_choices(village_id, day: date) -> list[EffectiveItem]:
    """Award items in force and enabled in the village on `day`, for the create form."""
    rules = rules_in_force(village_id, day) if village_id and day else None
    if rules is None:
        return []
    return [e for e in rules.items if e.enabled and e.item.direction == "award"]


# --- who reaches what ----------------------------------------------------------------------------

def _own_households(actor: Actor, action_name: str = "activity.signup") -> set:
    """The households a villager account stands for (its villager grants)."""
    if actor.kind != "user" or "villager" not in actor.roles:
        return set()
    return set(scope_ids(actor, action_name, "household") or set())


def own_households_in(actor: Actor, village_id) -> list[Household]:
    own = _own_households(actor)
    if not own:
        return []
    rows = db.session.execute(select(Household).where(Household.id.in_(list(own)), Household.village_id == village_id,
                                                      Household.status == ACTIVE)).scalars().all()
    return sorted(rows, key=lambda h: (h.door_plate, str(h.id)))


def _reach(actor: Actor, action_name: str, activity: Activity) -> None:
    """Out of reach is 404, like a missing activity."""
    authorize(actor, action_name, activity)


def may_reach(actor: Actor, action_name: str, activity: Activity) -> bool:
    return may(actor, action_name, activity)


def may_manage_village(actor: Actor, village_id) -> bool:
    """May the actor hold activities in this village (its village staff, and its grid workers)?"""
    return may(actor, "activity.manage", Activity(village_id=village_id))


def village_ids(actor: Actor, action_name: str = "activity.list") -> set | None:
    """Villages whose activities the actor sees (None: all of the township)."""
    condition = reach.where(actor, action_name, ActivityVillage)
    return None if condition is None else set(db.session.execute(select(Village.id).where(condition)).scalars())


def _locked(activity_id) -> Activity:
    found = parse_uuid(activity_id)
    activity = db.session.execute(select(Activity).where(Activity.id == found).with_for_update()
                                  .execution_options(populate_existing=True)).scalar_one_or_none() if found else None
    if activity is None:
        raise NotFound(_("Not found."))
    return activity


# --- activities ------------------------------------------------------------------------------------

@action("activity.list")
def list_activities(actor: Actor, village_id=None) -> list[Activity]:
    """Activities in the actor's villages, newest day first."""
    conditions = []
    scope = reach.where(actor, "activity.list", Activity)
    if scope is not None:
        conditions.append(scope)
    if village_id:
        conditions.append(Activity.village_id == parse_uuid(village_id))
    return list(db.session.execute(select(Activity).where(*conditions)
                                   .order_by(Activity.held_on.desc(), Activity.created_at.desc())).scalars())


@action("activity.view")
def get_activity(actor: Actor, activity_id) -> Activity:
    activity = tenant_get_or_404(Activity, activity_id)
    _reach(actor, "activity.view", activity)
    return activity


def _check_fields(actor: Actor, data: dict, activity: Activity | None) -> dict:
    """The fields alone first (the API document declares them: 422), then what the township's data
    and the date say about them (409): the village, the year, the item in force that day."""
    errors: dict = {}
    conflicts: dict = {}
    values: dict = {}
    village_id = activity.village_id if activity is not None else None
    if activity is None or "village_id" in data:
        village_id = check(Uuid(_("Choose a village.")), data.get("village_id"), "village_id", errors)
        if village_id is None and "village_id" not in errors:
            errors["village_id"] = [_("Choose a village.")]
    held_on = check(HELD_ON, data.get("held_on", activity.held_on if activity else None), "held_on", errors)
    values["title"] = check(TITLE, data.get("title", activity.title if activity else ""), "title", errors)
    values["place"] = check(PLACE, data.get("place", activity.place if activity else ""), "place", errors)
    values["description"] = check(DESCRIPTION, data.get("description", activity.description if activity else ""),
                                  "description", errors)
    code = check(ITEM_CODE, data.get("item_code", activity.item_code if activity else ""), "item_code", errors)
    Invalid.raise_if(errors)
    if activity is None or "village_id" in data:
        village = tenant_get(Village, village_id)
        if village is None:
            conflicts["village_id"] = [_("Choose a village.")]
        elif not may_manage_village(actor, village.id):
            conflicts["village_id"] = [_("This village is outside your area.")]
    if held_on.year < clock.today().year - 1:
        conflicts["held_on"] = [_("Only activities from this year or last year can be entered.")]
    if not conflicts:
        eff = effective_item(village_id, code, held_on)
        if eff is None:
            conflicts["item_code"] = [_("This item was not in force in the village on %(day)s.",
                                        day=held_on.isoformat())]
        elif eff.item.direction != "award":
            conflicts["item_code"] = [_("Attendance earns points: choose an award item.")]
    InputConflict.raise_if(conflicts)
    return values | {"village_id": village_id, "held_on": held_on, "item_code": code}


@action("activity.manage")
def create_activity(actor: Actor, data: dict) -> Activity:
    values = _check_fields(actor, data or {}, None)
    activity = Activity(**values, checkin_code=new_checkin_code(), status=Activity.OPEN, created_by=actor.id,
                        created_by_name=actor.name)
    db.session.add(activity)
    db.session.flush()
    return activity


@action("activity.manage")
def update_activity(actor: Actor, activity_id, data: dict) -> Activity:
    """Edit the details. The village, day and item stay fixed once anyone attended (their
    applications were made from them)."""
    activity = _locked(activity_id)
    authorize(actor, "activity.manage", activity)
    data = dict(data or {})
    values = _check_fields(actor, data, activity)
    attended = _count(Attendance, activity.id)
    if attended and (values["village_id"] != activity.village_id or values["held_on"] != activity.held_on
                     or values["item_code"] != activity.item_code):
        name = next(n for n in ("village_id", "held_on", "item_code")
                    if values[n] != getattr(activity, n))
        raise InputConflict.field(name, _("Households already attended: the village, day and item can no longer "
                                          "change."))
    for name, new in values.items():
        setattr(activity, name, new)
    db.session.flush()
    return activity


@action("activity.manage")
def close_activity(actor: Actor, activity_id) -> Activity:
    """No more sign-up or check-in."""
    activity = _locked(activity_id)
    authorize(actor, "activity.manage", activity)
    activity.status = Activity.CLOSED
    db.session.flush()
    return activity


@action("activity.manage")
def reopen_activity(actor: Actor, activity_id) -> Activity:
    activity = _locked(activity_id)
    authorize(actor, "activity.manage", activity)
    activity.status = Activity.OPEN
    db.session.flush()
    return activity


def _count(model, activity_id) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(model.activity_id == activity_id)).scalar()


# --- sign-up -------------------------------------------------------------------------------------

def _household_for(actor: Actor, activity: Activity, household_id, field_name: str = "household_id") -> Household:
    """The household a sign-up (or cancellation) is for: a villager's own household in the
    activity's village (the only one, or the one named); staff name any household in their scope."""
    household_id = value(Uuid(_("No such household in this activity's village.")), household_id, field_name)
    own = own_households_in(actor, activity.village_id)
    if household_id is None:
        if len(own) == 1:
            return own[0]
        raise InputConflict.field(field_name, _("Choose a household."))  # the actor's households decide
    household = tenant_get(Household, household_id)
    if household is None or household.village_id != activity.village_id:
        raise InputConflict.field(field_name, _("No such household in this activity's village."))
    if household in own:
        authorize(actor, "activity.signup", household)
    else:
        authorize(actor, "activity.manage", activity)
        try:
            authorize(actor, "activity.manage", household)
        except NotFound:
            raise InputConflict.field(field_name, _("No such household in this activity's village.")) from None
    if household.status != ACTIVE:
        raise InputConflict.field(field_name, _("This household is no longer active."))
    return household


def signup_of(activity_id, household_id) -> ActivitySignup | None:
    return db.session.execute(select(ActivitySignup).where(ActivitySignup.activity_id == activity_id,
                                                           ActivitySignup.household_id == household_id)
                              ).scalar_one_or_none()


def attendance_of(activity_id, household_id) -> Attendance | None:
    return db.session.execute(select(Attendance).where(Attendance.activity_id == activity_id,
                                                       Attendance.household_id == household_id)).scalar_one_or_none()


@action("activity.view")
def sign_up(actor: Actor, activity_id, household_id=None) -> ActivitySignup:
    """A villager signs up their household; staff sign up any household of the village in their
    area. Signing up again changes nothing."""
    activity = _locked(activity_id)
    _reach(actor, "activity.view", activity)
    household = _household_for(actor, activity, household_id)
    if activity.status != Activity.OPEN:
        raise InputConflict.field("status", _("This activity is closed."))
    if activity.held_on < clock.today():
        raise InputConflict.field("held_on", _("This activity is over; sign-up has ended."))
    row = signup_of(activity.id, household.id)
    if row is None:
        row = ActivitySignup(activity_id=activity.id, household_id=household.id, signed_up_by=actor.id)
        db.session.add(row)
        _flush()
    return row


@action("activity.view")
def cancel_sign_up(actor: Actor, activity_id, household_id=None) -> None:
    activity = _locked(activity_id)
    _reach(actor, "activity.view", activity)
    household = _household_for(actor, activity, household_id)
    if attendance_of(activity.id, household.id) is not None:
        raise InputConflict.field("household_id", _("This household already attended; the sign-up stays."))
    row = signup_of(activity.id, household.id)
    if row is not None:
        db.session.delete(row)
        db.session.flush()


def _flush() -> None:
    try:
        db.session.flush()
    except IntegrityError as e:
        db.session.rollback()
        raise Conflict(_("Someone else changed this at the same moment. Reload and try again.")) from e


# --- attendance ------------------------------------------------------------------------------------

def _attend(actor: Actor, activity: Activity, household: Household, eff: EffectiveItem, checked_in: bool) -> Attendance:
    app = staff_submit_for_activity(actor, household, eff, occurred_on=activity.held_on,
                                    description=activity.title, activity_id=activity.id, checked_in=checked_in)
    row = Attendance(activity_id=activity.id, household_id=household.id, checked_in=checked_in, marked_by=actor.id,
                     marked_by_name=actor.name, application_id=app.id)
    db.session.add(row)
    return row


def _item_in_force(activity: Activity, field_name: str) -> EffectiveItem:
    eff = effective_item(activity.village_id, activity.item_code, activity.held_on)
    if eff is None:
        raise InputConflict.field(field_name, _("This activity's rule item is no longer in force in the village on "
                                          "%(day)s.", day=activity.held_on.isoformat()))
    return eff


@dataclass
class Marked:
    """What a staff marking did: attendance rows created now, and households already marked."""

    activity: Activity
    created: list = field(default_factory=list)  # Attendance
    already: list = field(default_factory=list)  # household ids


@action("activity.manage")
def mark_attendance(actor: Actor, activity_id, household_ids) -> Marked:
    """Staff mark the households that attended: all are written, or none. Each new attendance makes
    one application that starts verified (certified for verification-only items); a household
    already marked (or checked in) is left as it is."""
    activity = _locked(activity_id)
    authorize(actor, "activity.manage", activity)
    errors: dict = {}
    if isinstance(household_ids, str):
        household_ids = [household_ids]
    if not isinstance(household_ids, list | tuple) or not household_ids:
        raise Invalid.field("household_ids", _("Tick at least one household."))
    if len(household_ids) > MAX_MARK:
        raise Invalid.field("household_ids", _("At most %(n)d households at once.", n=MAX_MARK))
    no_such = _("No such household in this activity's village.")
    ids = [check(Uuid(no_such), raw, f"household_ids.{i}", errors) for i, raw in enumerate(household_ids)]
    for i, hid in enumerate(ids):
        if hid is None and f"household_ids.{i}" not in errors:
            errors[f"household_ids.{i}"] = [no_such]
    Invalid.raise_if(errors)
    conflicts: dict = {}
    if activity.status != Activity.OPEN:
        conflicts["status"] = [_("This activity is closed.")]
    if activity.held_on > clock.today():
        conflicts["held_on"] = [_("Attendance can be marked from the day the activity is held.")]
    InputConflict.raise_if(conflicts)
    eff = _item_in_force(activity, "item_code")
    households: list[Household] = []
    seen = set()
    for i, hid in enumerate(ids):
        household = tenant_get(Household, hid)
        if household is not None and household.village_id == activity.village_id:
            if not may(actor, "activity.manage", household):
                household = None
        if household is None or household.village_id != activity.village_id:
            conflicts[f"household_ids.{i}"] = [no_such]
        elif household.status != ACTIVE:
            conflicts[f"household_ids.{i}"] = [_("This household is no longer active.")]
        elif household.id not in seen:
            seen.add(household.id)
            households.append(household)
    InputConflict.raise_if(conflicts)
    marked = Marked(activity)
    existing = set(db.session.execute(select(Attendance.household_id).where(Attendance.activity_id == activity.id))
                   .scalars())
    for household in households:
        if household.id in existing:
            marked.already.append(household.id)
            continue
        marked.created.append(_attend(actor, activity, household, eff, checked_in=False))
    _flush()
    return marked


@action("activity.checkin")
def check_in(actor: Actor, activity_id, code, household_id=None, device_hash: str | None = None) -> Attendance:
    """A villager enters the code read out at the site: their household's attendance, and an
    application waiting for verification. Taken while the activity is open, from the day before
    to the day after it is held. Checking in again changes nothing. `device_hash`: the hashed
    device cookie of the check-in page (integrity/devices.py), kept on the attendance row."""
    activity = _locked(activity_id)
    _reach(actor, "activity.checkin", activity)
    errors: dict = {}
    typed = "".join((check(CHECKIN_CODE, code, "code", errors) or "").split())
    wanted = check(Uuid(_("Choose one of your households.")), household_id, "household_id", errors)
    Invalid.raise_if(errors)
    own = own_households_in(actor, activity.village_id)
    if wanted is not None:
        own = [h for h in own if h.id == wanted]
        if not own:
            raise InputConflict.field("household_id", _("Choose one of your households."))
    if not own:
        raise NotFound(_("Not found."))
    household = own[0]
    if not secrets.compare_digest(typed.encode(), activity.checkin_code.encode()):
        raise InputConflict.field("code", _("That is not this activity's check-in code."))
    if activity.status != Activity.OPEN:
        raise InputConflict.field("code", _("This activity is closed; check-in has ended."))
    today = clock.today()
    if not activity.held_on - timedelta(days=CHECKIN_DAYS) <= today <= activity.held_on + timedelta(days=CHECKIN_DAYS):
        raise InputConflict.field("code", _("Check-in is open from the day before to the day after the activity."))
    row = attendance_of(activity.id, household.id)
    if row is not None:
        return row
    eff = _item_in_force(activity, "code")
    row = _attend(actor, activity, household, eff, checked_in=True)
    row.device_hash = device_hash
    _flush()
    return row


# --- what pages show ---------------------------------------------------------------------------

@dataclass
class Roster:
    household: Household
    signed_up: bool
    attendance: Attendance | None


@action("activity.manage")
def attendance_roster(actor: Actor, activity_id) -> list[Roster]:
    """The village's active households in the actor's area (and any household that attended):
    signed-up first, then by pinyin of the head's name, then door plate."""
    activity = get_activity(actor, activity_id)
    authorize(actor, "activity.manage", activity)
    conditions = [Household.village_id == activity.village_id, Household.status == ACTIVE]
    scope = scope_condition(actor, "activity.manage")
    if scope is not None:
        conditions.append(scope)
    households = {h.id: h for h in db.session.execute(select(Household).where(*conditions)).scalars()}
    signed = set(db.session.execute(select(ActivitySignup.household_id)
                                    .where(ActivitySignup.activity_id == activity.id)).scalars())
    attended = {a.household_id: a for a in db.session.execute(
        select(Attendance).where(Attendance.activity_id == activity.id)).scalars()}
    for hid in attended.keys() - households.keys():
        h = tenant_get(Household, hid)
        if h is not None:
            households[hid] = h
    ordered = sort_by_pinyin(list(households.values()), key=lambda h: h.head_name)
    rows = [Roster(h, h.id in signed, attended.get(h.id)) for h in ordered]
    return sorted(rows, key=lambda r: not r.signed_up)  # stable: pinyin order within each group


def counts(activity_id) -> dict:
    return {"signed_up": _count(ActivitySignup, activity_id), "attended": _count(Attendance, activity_id)}


@dataclass
class ReportRow:
    code: str | None  # None: every household
    label: str
    households: int = 0  # active households of the village with this tag
    signed_up: int = 0
    attended: int = 0
    points_posted: int = 0
    points_pending: int = 0


@dataclass
class Report:
    activity: Activity
    rows: list  # ReportRow: all households first, then one per tag in use
    states: dict  # application state -> (count, points)


@action("activity.report")
def participation_report(actor: Actor, activity_id) -> Report:
    """Who took part, overall and by household tag (e.g. how many 脱贫户 of the village attended),
    and the points their applications carry, posted or still on their way."""
    activity = get_activity(actor, activity_id)
    authorize(actor, "activity.report", activity)
    village_households = set(db.session.execute(select(Household.id).where(
        Household.village_id == activity.village_id, Household.status == ACTIVE)).scalars())
    signed = set(db.session.execute(select(ActivitySignup.household_id)
                                    .where(ActivitySignup.activity_id == activity.id)).scalars())
    attended = set(db.session.execute(select(Attendance.household_id)
                                      .where(Attendance.activity_id == activity.id)).scalars())
    apps = db.session.execute(select(Application.household_id, Application.state, Application.points)
                              .where(Application.activity_id == activity.id)).all()
    posted = {h: p for h, s, p in apps if s == POSTED}
    pending = {h: p for h, s, p in apps if s in PENDING}
    states = {s: (0, 0) for s in STATES}
    for _h, s, p in apps:
        n, total = states[s]
        states[s] = (n + 1, total + p)
    tags_of: dict = {}
    involved = village_households | signed | attended
    if involved:
        for hid, tag in db.session.execute(select(HouseholdTag.household_id, HouseholdTag.tag)
                                           .where(HouseholdTag.household_id.in_(list(involved)))):
            tags_of.setdefault(tag, set()).add(hid)

    def row(code, label, members: set | None) -> ReportRow:
        pick = (lambda s: s) if members is None else (lambda s: s & members)
        return ReportRow(code, label, len(pick(village_households)), len(pick(signed)), len(pick(attended)),
                         sum(p for h, p in posted.items() if members is None or h in members),
                         sum(p for h, p in pending.items() if members is None or h in members))

    rows = [row(None, _("All households"), None)]
    rows += [row(t.code, t.label, tags_of[t.code]) for t in all_tags() if t.code in tags_of]
    return Report(activity, rows, {s: v for s, v in states.items() if v[0]})
