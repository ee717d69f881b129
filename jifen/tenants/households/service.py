"""Households and residents: create, edit, members, tags, splits and merges, search.

Pages, the API and the roster import call these functions; field checks come from `rules`.
A resident who moves (split, merge) is not re-pointed at the other household: the old row is
marked as left and a new row is written in the target, and the events on both sides name both
rows, so each household's past membership stays readable. ID numbers and phones leave this module
masked unless `can_see_identity` says otherwise; audit entries always hold them masked.
"""
from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pypinyin import lazy_pinyin
from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError

from jifen.platform import clock, sealed
from jifen.platform.audit.service import record
from jifen.platform.db import db, parse_uuid
from jifen.platform.errors import Conflict, InputConflict, Invalid, NotFound, refuse
from jifen.platform.input import Day, Text, Uuid, Whole, check
from jifen.platform.paging import Page
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize, may
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.platform.unit_of_work import reading, trace_read
from jifen.tenants.households import (
    rules,
    scopes,  # noqa: F401 - registers the household scope kind
)
from jifen.tenants.households.models import (
    ACTIVE,
    DISSOLVED,
    MERGED,
    MOVED_OUT,
    RELATIONS,
    CustomTag,
    Household,
    HouseholdEvent,
    HouseholdTag,
    Resident,
)
from jifen.tenants.villages.models import MICRO, GridNode, Village

register_url_object("household_id", Household)
register_url_object("resident_id", Resident)
register_url_object("tag_id", CustomTag)

MAX_NOTE = 500
MAX_REASON = 200
MAX_PER_PAGE = 100
MAX_TAG_ZH, MAX_TAG_EN = 32, 64  # a township tag's names (CustomTag's columns)
MAX_ORDER = 1_000_000  # a member's place in the household's order, from -MAX_ORDER to MAX_ORDER
RELATION_CHOICES = (*RELATIONS, *rules.RELATION_WORDS)  # what `rules.clean_relation` takes
MEMBER_RELATIONS = tuple(r for r in RELATION_CHOICES if rules.RELATION_WORDS.get(r, r) != "head")  # ... but head
RELATION_LABELS = {"head": _l("Head of household"), "spouse": _l("Spouse"), "child": _l("Child"),
                   "child_in_law": _l("Child's spouse"), "grandchild": _l("Grandchild"), "parent": _l("Parent"),
                   "grandparent": _l("Grandparent"), "sibling": _l("Sibling"), "other": _l("Other")}
STATUS_LABELS = {ACTIVE: _l("Active"), MOVED_OUT: _l("Moved out"), MERGED: _l("Merged"), DISSOLVED: _l("Dissolved")}


# --- small helpers ---------------------------------------------------------------------------

def can_see_identity(actor: Actor, household: Household) -> bool:
    """Whether this actor may see the household's ID numbers unmasked (pages and API on an explicit
    "show", which is audited; exports)."""
    return may(actor, "household.view_id_numbers", household)


def can_see_phones(actor: Actor, household: Household) -> bool:
    """Whether this actor sees the household's phones unmasked (those who call households)."""
    return may(actor, "household.view_phones", household)


def identity_read(actor: Actor, obj=None, *, purpose: str, count: int, object_type: str | None = None,
                  object_id=None, **details) -> None:
    """Audit that `actor` was shown `count` full ID numbers (never the numbers themselves): the
    household page's "show", a roster export, a payment sheet, a recommendation list. In a read
    request the entry commits with the answer (`unit_of_work.commit_read`)."""
    if not count:
        return
    kw = {"object_type": object_type or (obj.__tablename__ if obj is not None else "none"),
          "object_id": object_id if object_id is not None else getattr(obj, "id", None),
          "after": {"purpose": purpose, "id_numbers": count} | details}
    if reading():
        trace_read(lambda: record(actor, "identity.read", **kw))
    else:
        record(actor, "identity.read", **kw)


def _english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


def _load(actor: Actor, action_name: str, household_id) -> Household:
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, action_name, household)
    return household


def _editable(household: Household) -> None:
    if household.status == MERGED:
        raise InputConflict.field("status", _("A merged household is kept as history and can't be changed."))


def _active(household: Household, field: str = "status") -> None:
    if household.status != ACTIVE:
        raise InputConflict.field(field, _("Only an active household can be split or merged."))


def _flush() -> None:
    """Flush; a unique index that a concurrent request beat us to becomes the same field error the
    checks above would have given."""
    try:
        db.session.flush()
    except IntegrityError as e:
        db.session.rollback()  # the transaction is dead already; the message below may load rows (the locale)
        text = str(e.orig)
        if "door_plate" in text:
            raise InputConflict.field("door_plate",
                                      _("Another active household of this village has this door plate.")) from e
        if "id_number" in text:
            raise InputConflict.field("id_number", _("Another current resident already has this ID number.")) from e
        raise Conflict(_("Someone else changed this at the same moment. Reload and try again.")) from e


# --- tags ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tag:
    code: str
    name_zh: str
    name_en: str
    id: uuid.UUID | None = None  # the CustomTag row; None for a built-in tag

    @property
    def builtin(self) -> bool:
        return self.id is None

    @property
    def label(self) -> str:
        return self.name_en if _english() else self.name_zh


# Built-in tags carry both names as data (like a township's own tags), so a roster in either
# language resolves them whatever the reader's locale.
BUILTIN_TAGS = (
    Tag("party_member", "党员户", "Party-member household"),
    Tag("poverty_alleviated", "脱贫户", "Poverty-alleviated household"),
    Tag("monitored", "监测户", "Monitored household"),
    Tag("low_income", "低保户", "Low-income household"),
    Tag("five_guarantee", "五保户", "Five-guarantee household"),
    Tag("military_family", "军属", "Military family"),
)


def all_tags() -> list[Tag]:
    """Built-in tags in their fixed order, then the township's own in pinyin order."""
    custom = db.session.execute(select(CustomTag)).scalars().all()
    return list(BUILTIN_TAGS) + [Tag(t.code, t.name_zh, t.name_en, t.id)
                                 for t in sort_by_pinyin(custom, key=lambda t: t.name_zh)]


def tag_by_label(text, tags: list[Tag] | None = None) -> Tag | None:
    """The tag whose code, Chinese name or English name (any case) is `text`."""
    word = str(text or "").strip().casefold()
    if not word:
        return None
    for tag in tags if tags is not None else all_tags():
        if word in (tag.code.casefold(), tag.name_zh.casefold(), tag.name_en.casefold()):
            return tag
    return None


def _clean_tags(values, errors: dict, conflicts: dict) -> list[str]:
    """Tag codes for the codes or names given; a name the township has no tag for is a conflict."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple):
        errors["tags"] = [_("Give the tags as a list.")]
        return []
    known, codes = all_tags(), []
    for label in values:
        tag = tag_by_label(label, known)
        if tag is None:
            conflicts["tags"] = [_("Unknown tag “%(tag)s”.", tag=str(label)[:32])]
        elif tag.code not in codes:
            codes.append(tag.code)
    return codes


def tag_codes(household_id) -> list[str]:
    return sorted(db.session.execute(select(HouseholdTag.tag).where(HouseholdTag.household_id == household_id))
                  .scalars())


def _set_tags(household_id, codes: list[str]) -> None:
    current = {t.tag: t for t in db.session.execute(
        select(HouseholdTag).where(HouseholdTag.household_id == household_id)).scalars()}
    for code, row in current.items():
        if code not in codes:
            db.session.delete(row)
    db.session.add_all(HouseholdTag(household_id=household_id, tag=c) for c in codes if c not in current)


@action("household.list")
def list_tags(actor: Actor) -> list[Tag]:
    return all_tags()


def _check_tag_names(data: dict, tag: CustomTag | None) -> dict:
    errors: dict = {}
    name_zh = check(Text(MAX_TAG_ZH, required=True, required_message=_("Enter the tag's Chinese name.")),
                    data.get("name_zh", tag.name_zh if tag else ""), "name_zh", errors)
    name_en = check(Text(MAX_TAG_EN), data.get("name_en", tag.name_en if tag else ""), "name_en", errors) or name_zh
    Invalid.raise_if(errors)
    conflicts: dict = {}
    for other in all_tags():
        if tag is not None and other.id == tag.id:
            continue
        if name_zh.casefold() in (other.name_zh.casefold(), other.name_en.casefold(), other.code):
            conflicts["name_zh"] = [_("Another tag already has this name.")]
        if name_en and data.get("name_en") and name_en.casefold() in (other.name_zh.casefold(),
                                                                      other.name_en.casefold(), other.code):
            conflicts["name_en"] = [_("Another tag already has this name.")]
    InputConflict.raise_if(conflicts)
    return {"name_zh": name_zh, "name_en": name_en}


def _new_tag_code(name: str) -> str:
    """A readable, stable code from the Chinese name's pinyin (codes are what households store)."""
    base = re.sub(r"[^a-z0-9]+", "_", "_".join(lazy_pinyin(name)).lower()).strip("_")[:24] or "tag"
    if not base[0].isalpha():
        base = "t_" + base
    taken = {t.code for t in all_tags()}
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base}_{n}"
    return code


@action("household_tag.manage")
def create_tag(actor: Actor, data: dict) -> CustomTag:
    names = _check_tag_names(data, None)
    tag = CustomTag(code=_new_tag_code(names["name_zh"]), **names)
    db.session.add(tag)
    _flush()
    record(actor, "household_tag.create", tag, after={"code": tag.code} | names)
    return tag


@action("household_tag.manage")
def rename_tag(actor: Actor, tag_id, data: dict) -> CustomTag:
    """Renames only: the code stays, so households keep their tag."""
    tag = tenant_get_or_404(CustomTag, tag_id)
    before = {"code": tag.code, "name_zh": tag.name_zh, "name_en": tag.name_en}
    for key, value in _check_tag_names(data, tag).items():
        setattr(tag, key, value)
    record(actor, "household_tag.rename", tag, before=before,
           after={"code": tag.code, "name_zh": tag.name_zh, "name_en": tag.name_en})
    return tag


# --- residents ---------------------------------------------------------------------------------

MEMBER_RULES = (("name", rules.clean_name), ("relation", rules.clean_relation), ("phone", rules.clean_phone),
                ("id_number", rules.clean_id_number))


def _clean_member(raw: dict, prefix: str, errors: dict, current: Resident | None = None) -> dict:
    """The member's fields, checked; keys missing from `raw` keep `current`'s values."""
    out = {}
    for field, clean in MEMBER_RULES:
        if current is not None and field not in raw:
            out[field] = getattr(current, field)
            continue
        try:
            out[field] = clean(raw.get(field))
        except rules.FieldError as e:
            errors[prefix + field] = [str(e)]
    return out


def _id_number_conflicts(entries: list[tuple[str, str | None, uuid.UUID | None]]) -> dict:
    """entries: (field name, ID number, the resident it already belongs to or None). An ID number
    may appear once among current residents (those who have not left), and once in the entries."""
    conflicts, seen = {}, {}
    for field, number, _resident_id in entries:
        if not number:
            continue
        if number in seen:
            conflicts[field] = [_("The same ID number is given twice.")]
        seen.setdefault(number, field)
    if seen:
        own = {rid for _f, _n, rid in entries if rid}
        blinded = {sealed.blind(number): number for number in seen}
        holders = db.session.execute(select(Resident.id_number_hmac, Resident.id).where(
            Resident.id_number_hmac.in_(list(blinded)), Resident.left_on.is_(None))).all()
        for digest, rid in holders:
            if rid not in own:
                conflicts[seen[blinded[digest]]] = [_("Another current resident already has this ID number.")]
    return conflicts


def _new_resident(household_id, member: dict, order: int) -> Resident:
    pinyin, initials = rules.name_search_keys(member["name"])
    return Resident(household_id=household_id, name=member["name"], name_pinyin=pinyin, name_initials=initials,
                    relation=member["relation"], phone=member.get("phone"), id_number=member.get("id_number"),
                    sort_order=order)


def _move_resident(resident: Resident, household_id, relation: str, order: int, today: date) -> Resident:
    """Close the resident's row in their old household and open one in the new (same person)."""
    resident.left_on = today
    return Resident(household_id=household_id, name=resident.name, name_pinyin=resident.name_pinyin,
                    name_initials=resident.name_initials, relation=relation, phone=resident.phone,
                    id_number_sealed=resident.id_number_sealed, id_number_hmac=resident.id_number_hmac,
                    sort_order=order)


def current_members(household_id) -> list[Resident]:
    """Head first, then in the household's order."""
    rows = db.session.execute(select(Resident).where(Resident.household_id == household_id,
                                                     Resident.left_on.is_(None))
                              .order_by(Resident.sort_order, Resident.created_at)).scalars().all()
    return sorted(rows, key=lambda r: r.relation != "head")


def _sync_head(household: Household, head: Resident) -> None:
    household.head_name, household.head_pinyin, household.head_initials = (
        head.name, head.name_pinyin, head.name_initials)


def _member_snapshot(r: Resident) -> dict:
    return {"id": str(r.id), "name": r.name, "relation": r.relation, "phone": rules.mask_phone(r.phone),
            "id_number": rules.mask_id_number(r.id_number), "left_on": r.left_on.isoformat() if r.left_on else None}


def _snapshot(h: Household, members: list[Resident] | None = None) -> dict:
    out = {"village_id": str(h.village_id), "grid_node_id": str(h.grid_node_id), "door_plate": h.door_plate,
           "head_name": h.head_name, "status": h.status, "note": h.note, "tags": tag_codes(h.id)}
    if members is not None:
        out["members"] = [_member_snapshot(r) for r in members]
    return out


def _event(actor: Actor, household: Household, kind: str, other: Household | None = None, **details) -> None:
    db.session.add(HouseholdEvent(household_id=household.id, kind=kind, other_household_id=other.id if other else None,
                                  details=details, actor_id=actor.id, actor_name=actor.name, happened_on=clock.today()))


# --- households: checks ----------------------------------------------------------------------

def _check_place(data: dict, errors: dict, conflicts: dict, household: Household | None = None) -> dict:
    """Village, micro grid node and door plate; missing keys keep the household's current values.
    What the input says is checked into `errors`, what the township's data says into `conflicts`."""
    out = {}
    village_id = check(Uuid(_("Choose one of the township's villages.")),
                       data.get("village_id", household.village_id if household else None), "village_id", errors)
    node_id = check(Uuid(_("Choose an active micro grid node.")),
                    data.get("grid_node_id", household.grid_node_id if household else None), "grid_node_id", errors)
    try:
        out["door_plate"] = rules.clean_door_plate(data.get("door_plate", household.door_plate if household else ""))
    except rules.FieldError as e:
        errors["door_plate"] = [str(e)]
    if village_id is None:
        errors.setdefault("village_id", [_("Choose one of the township's villages.")])
    elif tenant_get(Village, village_id) is None:
        conflicts["village_id"] = [_("Choose one of the township's villages.")]
    out["village_id"] = village_id
    node = tenant_get(GridNode, node_id) if node_id else None
    if node_id is None:
        errors.setdefault("grid_node_id", [_("Choose an active micro grid node.")])
    elif node is None or node.retired_at is not None:
        conflicts["grid_node_id"] = [_("Choose an active micro grid node.")]
    elif node.level != MICRO:
        conflicts["grid_node_id"] = [_("A household sits on a micro grid node (level 4); “%(name)s” is level "
                                       "%(level)d.", name=node.name, level=node.level)]
    elif village_id is not None and node.village_id != village_id:
        conflicts["grid_node_id"] = [_("This micro grid node belongs to another village.")]
    out["grid_node_id"] = node.id if node else None
    if "door_plate" in out and village_id is not None and "village_id" not in conflicts:
        _door_plate_free(village_id, out["door_plate"], household, conflicts)
    return out


def _door_plate_free(village_id, plate: str, household: Household | None, errors: dict) -> None:
    if household is not None and household.status != ACTIVE:
        return  # only active households hold their door plate
    query = select(Household.id).where(Household.village_id == village_id, Household.door_plate == plate,
                                       Household.status == ACTIVE)
    if household is not None:
        query = query.where(Household.id != household.id)
    if db.session.execute(query.limit(1)).scalar() is not None:
        errors["door_plate"] = [_("Another active household of this village has this door plate.")]


def _check_in_scope(actor: Actor, action_name: str, place: dict, errors: dict, conflicts: dict) -> None:
    """The new place must lie in the actor's area (a transient household stands for it)."""
    if not errors and not conflicts and not may(actor, action_name, Household(village_id=place["village_id"],
                                                                                grid_node_id=place["grid_node_id"])):
        conflicts["grid_node_id"] = [_("This grid node is outside your area.")]


def _check_members(rows, errors: dict, conflicts: dict) -> list[dict]:
    """New members: exactly one head; `None` rows (blank form rows) are skipped, indices kept."""
    if not isinstance(rows, list) or not any(r is not None for r in rows):
        errors["members"] = [_("Add the members, at least the head of the household.")]
        return []
    members = []
    for i, raw in enumerate(rows):
        if raw is None:
            continue
        if not isinstance(raw, dict):
            errors[f"members.{i}"] = [_("Each member needs a name and a relation.")]
            continue
        members.append(_clean_member(raw, f"members.{i}.", errors) | {"index": i})
    # the members against each other (one head, an ID number once): the API document cannot say these
    heads = [m for m in members if m.get("relation") == "head"]
    if not heads and not any(k.endswith(".relation") for k in errors):
        conflicts["members"] = [_("Mark exactly one member as head of the household (户主).")]
    for m in heads[1:]:
        conflicts[f"members.{m['index']}.relation"] = [_("Only one member can be the head of the household.")]
    conflicts.update(_id_number_conflicts([(f"members.{m['index']}.id_number", m.get("id_number"), None)
                                           for m in members]))
    return members


# --- households: changes ---------------------------------------------------------------------

@action("household.create")
def create_household(actor: Actor, data: dict) -> Household:
    """A household with its members in one go: exactly one head, every member checked."""
    errors: dict = {}
    conflicts: dict = {}
    place = _check_place(data, errors, conflicts)
    note = check(Text(MAX_NOTE), data.get("note"), "note", errors)
    tags = _clean_tags(data.get("tags"), errors, conflicts)
    members = _check_members(data.get("members"), errors, conflicts)
    _check_in_scope(actor, "household.create", place, errors, conflicts)
    refuse(errors, conflicts)
    household = Household(**place, note=note, status=ACTIVE)
    db.session.add(household)
    _flush()
    residents = [_new_resident(household.id, m, order) for order, m in enumerate(members)]
    db.session.add_all(residents)
    _flush()
    _sync_head(household, next(r for r in residents if r.relation == "head"))
    _set_tags(household.id, tags)
    _flush()
    _event(actor, household, "created", members=[r.name for r in residents])
    record(actor, "household.create", household, after=_snapshot(household, residents))
    return household


@action("household.update")
def update_household(actor: Actor, household_id, data: dict) -> Household:
    """Door plate, village and micro grid, note, tags; keys left out stay as they are."""
    household = _load(actor, "household.update", household_id)
    _editable(household)
    errors: dict = {}
    conflicts: dict = {}
    place = _check_place(data, errors, conflicts, household)
    note = check(Text(MAX_NOTE), data.get("note", household.note), "note", errors)
    tags = _clean_tags(data["tags"], errors, conflicts) if "tags" in data else None
    if place.get("grid_node_id") != household.grid_node_id or place.get("village_id") != household.village_id:
        _check_in_scope(actor, "household.update", place, errors, conflicts)
    refuse(errors, conflicts)
    before = _snapshot(household)
    for key, value in place.items():
        setattr(household, key, value)
    household.note = note
    _flush()
    if tags is not None:
        _set_tags(household.id, tags)
    record(actor, "household.update", household, before=before, after=_snapshot(household))
    return household


def member_of(household: Household, resident_id) -> Resident:
    resident = tenant_get(Resident, resident_id)
    if resident is None or resident.household_id != household.id:
        raise NotFound(_("Not found."))
    return resident


@action("household.update")
def add_member(actor: Actor, household_id, data: dict) -> Resident:
    household = _load(actor, "household.update", household_id)
    _editable(household)
    errors: dict = {}
    member = _clean_member(data, "", errors)
    if member.get("relation") == "head":
        errors["relation"] = [_("The household has a head. Add the member, then make them head.")]
    Invalid.raise_if(errors)
    InputConflict.raise_if(_id_number_conflicts([("id_number", member.get("id_number"), None)]))
    order = max((r.sort_order for r in current_members(household.id)), default=-1) + 1
    resident = _new_resident(household.id, member, order)
    db.session.add(resident)
    _flush()
    record(actor, "household.add_member", resident, after=_member_snapshot(resident) | {
        "household_id": str(household.id)})
    return resident


@action("household.update")
def update_member(actor: Actor, household_id, resident_id, data: dict) -> Resident:
    """Edit a member. Making a member head hands over: the former head takes
    `previous_head_relation` (default: other)."""
    household = _load(actor, "household.update", household_id)
    _editable(household)
    resident = member_of(household, resident_id)
    if resident.left_on is not None:
        raise InputConflict.field("resident_id",
                                  _("This member has left the household; the record is kept as history."))
    errors: dict = {}
    member = _clean_member(data, "", errors, current=resident)
    previous = "other"
    if data.get("previous_head_relation"):
        try:
            previous = rules.clean_relation(data["previous_head_relation"])
        except rules.FieldError as e:
            errors["previous_head_relation"] = [str(e)]
        if previous == "head":
            errors["previous_head_relation"] = [_("Only one member can be the head of the household.")]
    order = resident.sort_order
    if "sort_order" in data:
        order = check(Whole(-MAX_ORDER, MAX_ORDER), data["sort_order"], "sort_order", errors)
        order = resident.sort_order if order is None else order
    Invalid.raise_if(errors)
    head = next((r for r in current_members(household.id) if r.relation == "head"), None)
    handover = member.get("relation") == "head" and resident.relation != "head"
    conflicts = _id_number_conflicts([("id_number", member.get("id_number"), resident.id)])
    if resident.relation == "head" and member.get("relation") not in (None, "head"):
        conflicts["relation"] = [_("A household needs a head: make another member head instead.")]
    InputConflict.raise_if(conflicts)
    before = _member_snapshot(resident)
    if handover and head is not None:
        head_before = _member_snapshot(head)
        head.relation = previous
        record(actor, "household.update_member", head, before=head_before, after=_member_snapshot(head))
    for key, value in member.items():
        setattr(resident, key, value)
    resident.name_pinyin, resident.name_initials = rules.name_search_keys(resident.name)
    resident.sort_order = order
    if resident.relation == "head":
        _sync_head(household, resident)
    _flush()
    record(actor, "household.update_member", resident, before=before, after=_member_snapshot(resident))
    return resident


@action("household.update")
def member_leaves(actor: Actor, household_id, resident_id, data: dict | None = None) -> Resident:
    """A member leaves (moved away, died, married out): the row stays, marked with the day."""
    household = _load(actor, "household.update", household_id)
    _editable(household)
    resident = member_of(household, resident_id)
    data = data or {}
    errors: dict = {}
    left_on = check(Day(), data.get("left_on"), "left_on", errors) or clock.today()
    Invalid.raise_if(errors)
    if resident.left_on is not None:
        raise InputConflict.field("resident_id", _("This member has already left the household."))
    if resident.relation == "head":
        raise InputConflict.field("resident_id", _("The head can't leave: make another member head first."))
    if left_on > clock.today():
        raise InputConflict.field("left_on", _("The day can't be in the future."))
    before = _member_snapshot(resident)
    resident.left_on = left_on
    record(actor, "household.member_leaves", resident, before=before, after=_member_snapshot(resident))
    return resident


SETTABLE_STATUSES = (ACTIVE, MOVED_OUT, DISSOLVED)  # merged comes from a merge only


@action("household.update")
def set_status(actor: Actor, household_id, data: dict) -> Household:
    """Moved out or dissolved (with a reason), or active again (if its door plate is still free)."""
    household = _load(actor, "household.update", household_id)
    _editable(household)
    errors: dict = {}
    status = str(data.get("status") or "")
    reason = check(Text(MAX_REASON), data.get("reason"), "reason", errors)
    if status not in SETTABLE_STATUSES:
        errors["status"] = [_("Choose active, moved out or dissolved.")]
    elif status != ACTIVE and not reason and "reason" not in errors:  # the API document says so too
        errors["reason"] = [_("Say why (e.g. moved to the county town).")]
    Invalid.raise_if(errors)
    conflicts: dict = {}
    if status == household.status:
        conflicts["status"] = [_("The household already has this status.")]
    elif status == ACTIVE:
        probe: dict = {}
        _door_plate_free(household.village_id, household.door_plate, None, probe)
        if probe:
            conflicts["status"] = probe["door_plate"]
    InputConflict.raise_if(conflicts)
    before = _snapshot(household)
    previous, household.status = household.status, status
    _flush()
    _event(actor, household, "status", status_from=previous, status_to=status, reason=reason)
    record(actor, "household.set_status", household, before=before, after=_snapshot(household) | {"reason": reason})
    return household


def _moves(rows, members: dict, errors: dict, conflicts: dict, *, head_allowed: bool) -> list[tuple[Resident, str, int]]:
    """[{resident_id, relation}] -> (resident, relation, index) for current members of the household."""
    if rows is None:
        return []
    if not isinstance(rows, list):
        errors["members"] = [_("Give the members as a list.")]
        return []
    not_member = _("Choose a current member of this household.")
    out, seen = [], set()
    for i, raw in enumerate(rows):
        raw = raw if isinstance(raw, dict) else {}
        resident_id = check(Uuid(not_member), raw.get("resident_id"), f"members.{i}.resident_id", errors)
        if resident_id is None:
            errors.setdefault(f"members.{i}.resident_id", [not_member])
        try:
            relation = rules.clean_relation(raw.get("relation") or "other")
        except rules.FieldError as e:
            errors[f"members.{i}.relation"] = [str(e)]
            continue
        if relation == "head" and not head_allowed:
            errors[f"members.{i}.relation"] = [_("The other household keeps its head; choose another relation.")]
        resident = members.get(resident_id)
        if resident_id is None:
            continue
        if resident is None or resident.id in seen:
            conflicts[f"members.{i}.resident_id"] = [not_member]
            continue
        seen.add(resident.id)
        out.append((resident, relation, i))
    return out


@action("household.split")
def split_household(actor: Actor, household_id, data: dict) -> Household:
    """Chosen members leave household A for a new household B of the same village; A keeps its head.

    Returns B. Both get an event naming the other and each moved resident's old and new rows."""
    source = _load(actor, "household.split", household_id)
    _active(source)
    errors: dict = {}
    conflicts: dict = {}
    members = {r.id: r for r in current_members(source.id)}
    if not data.get("members") and "members" not in errors:
        errors["members"] = [_("Choose the members who form the new household.")]
    moves = _moves(data.get("members"), members, errors, conflicts, head_allowed=True)
    place = _check_place({"village_id": source.village_id, "grid_node_id": data.get("grid_node_id") or source.grid_node_id,
                          "door_plate": data.get("door_plate")}, errors, conflicts)
    note = check(Text(MAX_NOTE), data.get("note"), "note", errors)
    tags = _clean_tags(data.get("tags"), errors, conflicts)
    for resident, _relation, i in moves:
        if resident.relation == "head":
            conflicts[f"members.{i}.resident_id"] = [_("The head stays with this household; make another member "
                                                       "head first.")]
    # the moving members against each other (one head of the new household), which the API document cannot say
    heads = [i for _r, relation, i in moves if relation == "head"]
    if moves and not heads:
        conflicts.setdefault("members", [_("Choose the head of the new household among the members who move.")])
    for i in heads[1:]:
        conflicts[f"members.{i}.relation"] = [_("Only one member can be the head of the household.")]
    _check_in_scope(actor, "household.split", place, errors, conflicts)
    refuse(errors, conflicts)
    before = _snapshot(source, list(members.values()))
    target = Household(**place, note=note, status=ACTIVE)
    db.session.add(target)
    _flush()
    moved = _transfer(moves, target)
    _sync_head(target, next(new for _old, new in moved if new.relation == "head"))
    _set_tags(target.id, tags)
    _flush()
    names = _moved_details(moved)
    _event(actor, source, "split_off", target, residents=names)
    _event(actor, target, "split_from", source, residents=names)
    record(actor, "household.split", source, before=before,
           after=_snapshot(source, current_members(source.id)) | {"new_household_id": str(target.id)})
    record(actor, "household.create", target, after=_snapshot(target, [new for _old, new in moved])
           | {"split_from": str(source.id)})
    return target


def _transfer(moves: list[tuple[Resident, str, int]], target: Household, start: int = 0) -> list[tuple]:
    """Close the old rows, then open the new ones (the ID number index sees one current row)."""
    today = clock.today()
    pairs = [(r, _move_resident(r, target.id, relation, start + n, today)) for n, (r, relation, _i) in enumerate(moves)]
    db.session.flush()
    db.session.add_all(new for _old, new in pairs)
    _flush()
    return pairs


def _moved_details(moved: list[tuple[Resident, Resident]]) -> list[dict]:
    return [{"name": old.name, "from_resident_id": str(old.id), "to_resident_id": str(new.id)} for old, new in moved]


@action("household.merge")
def merge_household(actor: Actor, household_id, data: dict) -> Household:
    """Household A joins B: A's current members move to B (relation to B's head given, else
    other), A becomes merged into B. Returns B."""
    source = _load(actor, "household.merge", household_id)
    _active(source)
    errors: dict = {}
    conflicts: dict = {}
    choose = _("Choose a household in your area to merge into.")
    target_id = check(Uuid(choose), data.get("into_household_id"), "into_household_id", errors)
    if target_id is None:
        errors.setdefault("into_household_id", [choose])
    members = {r.id: r for r in current_members(source.id)}
    moves = _moves(data.get("members"), members, errors, conflicts, head_allowed=False)
    target = tenant_get(Household, target_id) if target_id else None
    if target_id is None:
        pass  # said above
    elif target is None or not may(actor, "household.merge", target):
        conflicts["into_household_id"] = [choose]
    elif target.id == source.id:
        conflicts["into_household_id"] = [_("A household can't merge into itself.")]
    elif target.status != ACTIVE:
        conflicts["into_household_id"] = [_("Only an active household can take in members.")]
    refuse(errors, conflicts)
    given = {r.id: (relation, i) for r, relation, i in moves}
    moves = [(r, given.get(r.id, ("other", None))[0], n) for n, r in enumerate(members.values())]
    before = _snapshot(source, list(members.values()))
    target_before = _snapshot(target, current_members(target.id))
    start = max((r.sort_order for r in current_members(target.id)), default=-1) + 1
    moved = _transfer(moves, target, start)
    source.status, source.merged_into_id = MERGED, target.id
    _flush()
    names = _moved_details(moved)
    _event(actor, source, "merged_into", target, residents=names)
    _event(actor, target, "merged_from", source, residents=names)
    record(actor, "household.merge", source, before=before, after=_snapshot(source, []) | {
        "merged_into_id": str(target.id)})
    record(actor, "household.merge_in", target, before=target_before,
           after=_snapshot(target, current_members(target.id)) | {"merged_from": str(source.id)})
    return target


# --- scope and search ------------------------------------------------------------------------

def scope_condition(actor: Actor, action_name: str = "household.list"):
    """SQL condition on Household for the actor's area, or None for the whole township (the one
    reach rule, `roles.reach`)."""
    return reach.where(actor, action_name, Household)


def _matches(q: str):
    """Head or current member name (substring), full pinyin (substring), pinyin initials (prefix),
    door plate (substring), a current member's whole ID number (through its keyed hash)."""
    member = [Resident.name.contains(q, autoescape=True)]
    number = q.replace(" ", "").upper()
    if rules.ID_RE.match(number):
        member.append(Resident.id_number_hmac == sealed.blind(number))
    household = [Household.head_name.contains(q, autoescape=True), Household.door_plate.icontains(q, autoescape=True)]
    key = re.sub(r"[\s']+", "", q).lower()
    if key.isascii() and key.isalpha():
        household += [Household.head_pinyin.contains(key, autoescape=True),
                      Household.head_initials.startswith(key, autoescape=True)]
        member += [Resident.name_pinyin.contains(key, autoescape=True),
                   Resident.name_initials.startswith(key, autoescape=True)]
    members = exists().where(Resident.household_id == Household.id, Resident.left_on.is_(None), or_(*member))
    return or_(*household, members)


@action("household.list")
def search_households(actor: Actor, *, q: str = "", village_id=None, grid_node_id=None, tag: str | None = None,
                      status: str | None = ACTIVE, page: int = 1, per_page: int = 20) -> Page:
    """The one search behind the list page, the merge picker and the API: in the actor's area,
    ordered by the head's pinyin then door plate. `status` "all" (or None) lists every status."""
    conditions = []
    scope = scope_condition(actor)
    if scope is not None:
        conditions.append(scope)
    q = " ".join(rules.CONTROL_RE.sub("", str(q or "")).split())
    if q:
        conditions.append(_matches(q))
    if village_id:
        conditions.append(Household.village_id == parse_uuid(village_id))
    if grid_node_id:
        node = tenant_get(GridNode, grid_node_id)
        conditions.append(Household.grid_node_id.in_(select(GridNode.id).where(
            GridNode.path.startswith(node.path, autoescape=True))) if node else false())
    if tag:
        found = tag_by_label(tag)
        if found is None:
            raise InputConflict.field("tag", _("Unknown tag “%(tag)s”.", tag=str(tag)[:32]))
        conditions.append(exists().where(HouseholdTag.household_id == Household.id, HouseholdTag.tag == found.code))
    if status and status != "all":
        if status not in (ACTIVE, MOVED_OUT, MERGED, DISSOLVED):
            raise Invalid.field("status", _("Unknown status."))
        conditions.append(Household.status == status)
    page, per_page = max(1, int(page or 1)), min(MAX_PER_PAGE, max(1, int(per_page or 20)))
    total = db.session.execute(select(func.count()).select_from(Household).where(*conditions)).scalar()
    items = db.session.execute(select(Household).where(*conditions)
                               .order_by(Household.head_pinyin, Household.door_plate, Household.id)
                               .offset((page - 1) * per_page).limit(per_page)).scalars().all()
    return Page(summaries(items), total, page, per_page)


def summaries(households: list[Household]) -> list[dict]:
    """List rows: the household with its village, micro grid, tags and member count, in four
    queries for the whole page."""
    ids = [h.id for h in households]
    if not ids:
        return []
    villages = dict(db.session.execute(select(Village.id, Village.name).where(
        Village.id.in_({h.village_id for h in households}))).all())
    nodes = dict(db.session.execute(select(GridNode.id, GridNode.name).where(
        GridNode.id.in_({h.grid_node_id for h in households}))).all())
    known = {t.code: t for t in all_tags()}
    tags = defaultdict(list)
    for household_id, code in db.session.execute(select(HouseholdTag.household_id, HouseholdTag.tag)
                                                  .where(HouseholdTag.household_id.in_(ids))):
        if code in known:
            tags[household_id].append(known[code])
    counts = dict(db.session.execute(select(Resident.household_id, func.count()).where(
        Resident.household_id.in_(ids), Resident.left_on.is_(None)).group_by(Resident.household_id)).all())
    order = {t.code: n for n, t in enumerate(known.values())}
    return [{"household": h, "id": h.id, "village_id": h.village_id, "village_name": villages.get(h.village_id, ""),
             "grid_node_id": h.grid_node_id, "grid_node_name": nodes.get(h.grid_node_id, ""),
             "door_plate": h.door_plate, "head_name": h.head_name, "head_pinyin": h.head_pinyin, "status": h.status,
             "tags": sorted(tags[h.id], key=lambda t: order[t.code]), "member_count": counts.get(h.id, 0)}
            for h in households]


# --- one household -------------------------------------------------------------------------

@action("household.view")
def get_household(actor: Actor, household_id) -> Household:
    return _load(actor, "household.view", household_id)


def present_member(r: Resident, reveal: bool, phone: bool | None = None) -> dict:
    """A member as pages and the API show it: ID number masked unless `reveal`, phone unless `phone`
    (default: as the ID number)."""
    phone = reveal if phone is None else phone
    return {"id": r.id, "name": r.name, "relation": r.relation, "relation_label": RELATION_LABELS.get(r.relation, ""),
            "phone": (r.phone or "") if phone else rules.mask_phone(r.phone),
            "id_number": (r.id_number or "") if reveal else rules.mask_id_number(r.id_number),
            "sort_order": r.sort_order, "left_on": r.left_on, "created_at": r.created_at}


def grid_path(node_id) -> list[GridNode]:
    node = tenant_get(GridNode, node_id)
    if node is None:
        return []
    ids = node.ancestor_ids()
    found = {n.id: n for n in db.session.execute(select(GridNode).where(GridNode.id.in_(ids))).scalars()}
    return [found[i] for i in ids if i in found]


@action("household.view")
def household_detail(actor: Actor, household_id, *, reveal: bool = False) -> dict:
    """Everything the household page and the API show, masked as this actor must see it. ID numbers
    are masked for everyone unless `reveal` (an explicit "show"): allowed to those who may see them
    (else 403), and audited."""
    household = _load(actor, "household.view", household_id)
    may_reveal = can_see_identity(actor, household)
    if reveal:
        authorize(actor, "household.view_id_numbers", household)
    phones = can_see_phones(actor, household)
    rows = db.session.execute(select(Resident).where(Resident.household_id == household.id)
                              .order_by(Resident.sort_order, Resident.created_at)).scalars().all()
    if reveal:
        identity_read(actor, household, purpose="household", count=sum(1 for r in rows if r.id_number_hmac))
    current = sorted((r for r in rows if r.left_on is None), key=lambda r: r.relation != "head")
    former = sorted((r for r in rows if r.left_on is not None), key=lambda r: r.left_on, reverse=True)
    summary = summaries([household])[0]
    merged_into = tenant_get(Household, household.merged_into_id) if household.merged_into_id else None
    return summary | {
        "note": household.note, "created_at": household.created_at, "updated_at": household.updated_at,
        "merged_into_id": household.merged_into_id, "merged_into": merged_into,
        "grid_path": [n.name for n in grid_path(household.grid_node_id)], "identity_visible": reveal,
        "may_reveal_identity": may_reveal, "phones_visible": phones,
        "members": [present_member(r, reveal, phones) for r in current],
        "former_members": [present_member(r, reveal, phones) for r in former],
        "history": _history(actor, household),
    }


@action("household.view")
def household_history(actor: Actor, household_id) -> list[dict]:
    return _history(actor, _load(actor, "household.view", household_id))


def _history(actor: Actor, household: Household) -> list[dict]:
    """Events newest first, each naming the other household of a split or merge (linked only for
    those who may view it)."""
    events = db.session.execute(select(HouseholdEvent).where(HouseholdEvent.household_id == household.id)
                                .order_by(HouseholdEvent.created_at.desc(), HouseholdEvent.id.desc())).scalars().all()
    out = []
    for e in events:
        other = tenant_get(Household, e.other_household_id) if e.other_household_id else None
        out.append({"id": e.id, "kind": e.kind, "happened_on": e.happened_on, "actor_name": e.actor_name,
                    "other_household_id": e.other_household_id,
                    "other_door_plate": other.door_plate if other else None,
                    "other_head_name": other.head_name if other else None,
                    "other_visible": other is not None and may(actor, "household.view", other),
                    "details": e.details or {}})
    return out


# --- choices for forms and filters -------------------------------------------------------------

def villages_for(actor: Actor) -> list[Village]:
    """Villages the actor's household area touches (their households', their grid nodes', their
    own villages), in pinyin order (filters and forms)."""
    query = select(Village)
    if reach.where(actor, "household.list", Household) is not None:
        query = query.where(or_(
            Village.id.in_(reach.id_select(actor, "household.list", Household, Household.village_id)),
            Village.id.in_(reach.id_select(actor, "household.list", GridNode, GridNode.village_id)),
            reach.where(actor, "household.list", Village)))
    return sort_by_pinyin(db.session.execute(query).scalars().all(), key=lambda v: v.name)


def grid_choices(actor: Actor, village_id=None, micro_only: bool = False) -> list[tuple]:
    """(node, label) for active grid nodes in the actor's area, in tree order. Labels are the path
    below the village's large node ("大网格 › 中网格 › 小网格 › 微网格") for micro nodes, indented
    names otherwise."""
    everything = db.session.execute(select(GridNode).where(GridNode.retired_at.is_(None))
                                    .order_by(GridNode.path)).scalars().all()
    names = {n.id: n.name for n in everything}
    reached = reach.filtered(select(GridNode.id), actor, "household.list", GridNode)
    reached = set(db.session.execute(reached).scalars())
    nodes = [n for n in everything if n.id in reached]
    out = []
    for n in nodes:
        if village_id and n.village_id != parse_uuid(village_id):
            continue
        if micro_only and n.level != MICRO:
            continue
        label = (" › ".join(names.get(i, "?") for i in n.ancestor_ids()) if micro_only
                 else "\u3000" * (n.level - 1) + n.name)
        out.append((n, label))
    return out
