"""Recommendation lists (推荐参考: 村班子后备人选, 参军, 入党积极分子): the township defines the
criteria; a list shows, per village and period, the current members of the households meeting them,
with the household's points, for the village committees' reference (points are a reference here,
never a decision).

Criteria: minimum earned points and stars of the household, no deduction of a veto item in the
period, a household tag, the member's relation to the head, and an age range. Ages come from the
birth date inside the resident ID number (digits 7–14, YYYYMMDD), on today's date; a member
without a readable ID number has an unknown age: when the list has an age range, such members are
listed apart ("age unknown") for the committee to check, never silently dropped or included.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jifen.platform import clock, spreadsheet
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import InputConflict, refuse
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action, authorize, may
from jifen.platform.tenancy import register_url_object, tenant_get_or_404
from jifen.tenants.honours import stars
from jifen.tenants.honours.common import VillageArea, flag, localized, optional_int, parse_period, text
from jifen.tenants.honours.models import RecommendationList
from jifen.tenants.honours.titles import MAX_SORT_ORDER, check_tag
from jifen.tenants.households.models import RELATIONS, Household, HouseholdTag, Resident
from jifen.tenants.households.rules import mask_id_number
from jifen.tenants.households.service import RELATION_LABELS, all_tags, identity_read
from jifen.tenants.villages.models import Village

register_url_object("recommendation_list_id", RecommendationList)

MAX_NAME_ZH, MAX_NAME_EN, MAX_NOTE, MAX_AGE = 64, 100, 1000, 120


def birth_date(id_number: str | None) -> date | None:
    """The birth date written in an 18-character resident ID number, or None when unreadable."""
    raw = (id_number or "").strip()
    if len(raw) != 18 or not raw[6:14].isdigit():
        return None
    try:
        born = date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14]))
    except ValueError:
        return None
    return born if date(1900, 1, 1) <= born <= clock.today() else None


def age_on(born: date | None, day: date) -> int | None:
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


# --- lists -----------------------------------------------------------------------------------------

def snapshot(rec: RecommendationList) -> dict:
    return {k: getattr(rec, k) for k in ("name_zh", "name_en", "note", "min_points", "min_stars", "no_veto",
                                         "min_age", "max_age", "required_tag", "relation", "active", "sort_order")}


def list_name(rec: RecommendationList) -> str:
    return localized(rec.name_zh, rec.name_en)


def _check(data: dict, rec: RecommendationList | None) -> dict:
    data = data or {}
    errors, conflicts = {}, {}
    cur = snapshot(rec) if rec else {"no_veto": True, "active": True, "sort_order": 0}
    values = {
        "name_zh": text(data, "name_zh", MAX_NAME_ZH, errors, required=True, current=cur.get("name_zh", "")),
        "name_en": text(data, "name_en", MAX_NAME_EN, errors, current=cur.get("name_en", "")),
        "note": text(data, "note", MAX_NOTE, errors, current=cur.get("note", "")),
        "min_points": optional_int(data, "min_points", errors, 0, stars.MAX_POINTS, cur.get("min_points")),
        "min_stars": optional_int(data, "min_stars", errors, 1, stars.MAX_STARS, cur.get("min_stars")),
        "no_veto": flag(data, "no_veto", cur["no_veto"]),
        "min_age": optional_int(data, "min_age", errors, 0, MAX_AGE, cur.get("min_age")),
        "max_age": optional_int(data, "max_age", errors, 0, MAX_AGE, cur.get("max_age")),
        "required_tag": check_tag(data, errors, conflicts, cur.get("required_tag")),
        "active": flag(data, "active", cur["active"]),
        "sort_order": optional_int(data, "sort_order", errors, 0, MAX_SORT_ORDER, cur["sort_order"]) or 0,
    }
    relation = data.get("relation", cur.get("relation"))
    relation = str(relation).strip() if relation is not None else ""
    if relation and relation not in RELATIONS:
        errors["relation"] = [_("Unknown relation “%(value)s”.", value=relation[:20])]
    values["relation"] = relation or None
    # the two ages together: a bound left out is the list's (no JSON schema compares two fields)
    if None not in (values["min_age"], values["max_age"]) and values["min_age"] > values["max_age"]:
        conflicts["max_age"] = [_("The highest age is below the lowest.")]
    if values["name_zh"] and "name_zh" not in errors:
        clash = db.session.execute(select(RecommendationList.id).where(
            RecommendationList.name_zh == values["name_zh"])).scalar()
        if clash is not None and (rec is None or clash != rec.id):
            conflicts["name_zh"] = [_("Another list has this name.")]
    refuse(errors, conflicts)
    return values


def _flush() -> None:
    try:
        db.session.flush()
    except IntegrityError as e:
        db.session.rollback()
        raise InputConflict.field("name_zh", _("Another list has this name.")) from e


@action("recommendation.manage")
def create_list(actor: Actor, data: dict) -> RecommendationList:
    rec = RecommendationList(**_check(data, None))
    db.session.add(rec)
    _flush()
    record(actor, "recommendation_list.create", rec, after=snapshot(rec))
    return rec


@action("recommendation.manage")
def update_list(actor: Actor, list_id, data: dict) -> RecommendationList:
    rec = tenant_get_or_404(RecommendationList, list_id)
    before = snapshot(rec)
    for name, value in _check(data, rec).items():
        setattr(rec, name, value)
    _flush()
    if snapshot(rec) != before:
        record(actor, "recommendation_list.update", rec, before=before, after=snapshot(rec))
    return rec


@action("recommendation.view")
def list_lists(actor: Actor, include_inactive: bool = False) -> list[RecommendationList]:
    rows = [r for r in db.session.execute(select(RecommendationList)).scalars() if r.active or include_inactive]
    return sorted(rows, key=lambda r: (r.sort_order, pinyin_key(r.name_zh)))


@action("recommendation.view")
def get_list(actor: Actor, list_id) -> RecommendationList:
    return tenant_get_or_404(RecommendationList, list_id)


# --- members -----------------------------------------------------------------------------------------

@dataclass
class Member:
    resident: Resident
    household: Household
    earned: int
    stars: int
    age: int | None
    reveal: bool  # the reader may see the ID number unmasked

    @property
    def id_number(self) -> str:
        raw = self.resident.id_number or ""
        return raw if self.reveal else mask_id_number(raw)

    @property
    def relation_label(self) -> str:
        return str(RELATION_LABELS.get(self.resident.relation, self.resident.relation))


@dataclass
class Members:
    rec: RecommendationList
    village: Village
    period: int
    on: date  # ages are as of this day
    members: list = field(default_factory=list)  # Member: meets every criterion
    unknown_age: list = field(default_factory=list)  # Member: meets the rest; no readable ID number
    households: int = 0  # households meeting the household criteria

    @property
    def age_filtered(self) -> bool:
        return self.rec.min_age is not None or self.rec.max_age is not None


def _order(m: Member) -> tuple:
    return (-m.earned, pinyin_key(m.resident.name), m.household.door_plate, str(m.resident.id))


@action("recommendation.view")
def members(actor: Actor, list_id, village_id, period=None, masked: bool = False) -> Members:
    """The members of the village's households meeting the list's criteria in the period, most
    household points first, then by the pinyin of the name. ID numbers are masked unless the
    reader may see them (household.view_id_numbers) and did not ask for masking."""
    rec = tenant_get_or_404(RecommendationList, list_id)
    village = tenant_get_or_404(Village, village_id)
    authorize(actor, "recommendation.view", VillageArea(village.id))
    period = parse_period(period)
    rated = stars.rate(period, village.id)
    tagged = None
    if rec.required_tag:
        tagged = set(db.session.execute(select(HouseholdTag.household_id).where(
            HouseholdTag.tag == rec.required_tag)).scalars())
    vetoed = stars.veto_hits(period, [v.item_code for v in stars.vetoes()], village.id) if rec.no_veto else {}
    keep = {h: r for h, r in rated.items()
            if (rec.min_points is None or r.earned >= rec.min_points)
            and (rec.min_stars is None or r.stars >= rec.min_stars)
            and (tagged is None or h in tagged) and h not in vetoed}
    out = Members(rec, village, period, clock.today(), households=len(keep))
    if not keep:
        return out
    conditions = [Resident.household_id.in_(list(keep)), Resident.left_on.is_(None)]
    if rec.relation:
        conditions.append(Resident.relation == rec.relation)
    rows = db.session.execute(select(Resident, Household).join(Household, Household.id == Resident.household_id)
                              .where(*conditions)).all()
    reveal: dict = {}
    for resident, household in rows:
        if household.id not in reveal:
            reveal[household.id] = not masked and may(actor, "household.view_id_numbers", household)
        age = age_on(birth_date(resident.id_number), out.on)
        m = Member(resident, household, keep[household.id].earned, keep[household.id].stars, age,
                   reveal[household.id])
        if age is None and out.age_filtered:
            out.unknown_age.append(m)
        elif ((rec.min_age is None or (age is not None and age >= rec.min_age))
              and (rec.max_age is None or (age is not None and age <= rec.max_age))):
            out.members.append(m)
    out.members.sort(key=_order)
    out.unknown_age.sort(key=_order)
    identity_read(actor, rec, purpose="recommendation_list", count=sum(
        1 for m in out.members if m.reveal and m.resident.id_number_hmac), village_id=str(village.id))
    return out


def criteria_text(rec: RecommendationList) -> list[str]:
    """The list's criteria as sentences, for pages and the export."""
    out = []
    if rec.min_points is not None:
        out.append(_("Household earned at least %(n)d points in the period", n=rec.min_points))
    if rec.min_stars is not None:
        out.append(_("Household rated at least %(n)d stars", n=rec.min_stars))
    if rec.no_veto:
        out.append(_("No veto deduction in the period"))
    if rec.required_tag:
        label = next((t.label for t in all_tags() if t.code == rec.required_tag), rec.required_tag)
        out.append(_("Household tag: %(tag)s", tag=label))
    if rec.relation:
        out.append(_("Relation to the head: %(relation)s", relation=RELATION_LABELS.get(rec.relation, rec.relation)))
    if rec.min_age is not None and rec.max_age is not None:
        out.append(_("Aged %(low)d to %(high)d", low=rec.min_age, high=rec.max_age))
    elif rec.min_age is not None:
        out.append(_("Aged %(low)d or over", low=rec.min_age))
    elif rec.max_age is not None:
        out.append(_("Aged %(high)d or under", high=rec.max_age))
    return out


@action("recommendation.view")
def export(actor: Actor, list_id, village_id, period=None, masked: bool = False) -> tuple[bytes, str]:
    """The list as an .xlsx workbook and its file name."""
    found = members(actor, list_id, village_id, period, masked=masked)
    wb = Workbook()
    ws = wb.active
    ws.title = str(found.period)
    title = f"{found.village.name} {list_name(found.rec)} ({found.period})"
    spreadsheet.append(ws, [title])
    ws["A1"].font = Font(bold=True, size=14)
    spreadsheet.append(ws, [_("For the village committees' reference: points are one consideration, not a decision.")])
    spreadsheet.append(ws, ["; ".join(criteria_text(found.rec))])
    spreadsheet.append(ws, [_("Ages as of %(day)s.", day=found.on.isoformat())])
    spreadsheet.append(ws, [])
    headers = [_("No."), _("Name"), _("Relation to the head"), _("Age"), _("ID number"), _("Head of household"),
               _("Door plate"), _("Household points"), _("Stars"), _("Note")]
    spreadsheet.append(ws, headers)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    n = 0
    for group, note in ((found.members, ""), (found.unknown_age, _("Age unknown: no ID number"))):
        for m in group:
            n += 1
            spreadsheet.append(ws, [n, m.resident.name, m.relation_label, m.age if m.age is not None else "",
                                    m.id_number, m.household.head_name, m.household.door_plate, m.earned, m.stars, note])
    for letter, width in zip("ABCDEFGHIJ", (6, 12, 12, 6, 22, 12, 16, 10, 6, 22), strict=True):
        ws.column_dimensions[letter].width = width
    ws["A2"].alignment = Alignment(wrap_text=False)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), f"{found.village.name}-{found.rec.name_zh}-{found.period}.xlsx"
