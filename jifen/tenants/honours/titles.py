"""Honour titles (最美家庭, 最美党员户, the township's own): criteria, shortlists, the panel's decision.

The township defines a title: a quota per village and the criteria of its shortlist (minimum earned
points, minimum stars, a household tag such as 党员户, no deduction of a veto item in the period).
A village admin (or the township admin) draws the shortlist of a village for a period from the
village's ranking by earned points: the households meeting the criteria, most points first, up to
the quota; households tied on points with the last place within the quota all go on the list (the
panel chooses among them, never an arbitrary tie-break). Households with no points earned are never
drawn. The village's certification panel then confirms or declines each candidate; one member's
decision settles it (a decline needs a reason; who decided is recorded); nobody decides on their
own household; confirmations never exceed the quota. Drawing again keeps what the panel decided
and refills the open places from the ranking of the moment, skipping declined households.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict, InputConflict, Invalid, NotFound, refuse
from jifen.platform.input import Text, check
from jifen.platform.pinyin import pinyin_key, sort_by_pinyin
from jifen.platform.roles.authz import Actor, action, authorize, may, scope_ids
from jifen.platform.roles.registry import register_scope_path
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.honours import stars
from jifen.tenants.honours.common import (
    VillageArea,
    flag,
    localized,
    optional_int,
    parse_period,
    text,
    village_or_invalid,
)
from jifen.tenants.honours.models import (
    CONFIRMED,
    DECLINED,
    SHORTLISTED,
    HonourCandidate,
    HonourShortlist,
    HonourTitle,
)
from jifen.tenants.households.models import Household, HouseholdTag
from jifen.tenants.households.scopes import household_path
from jifen.tenants.households.service import tag_by_label
from jifen.tenants.notifications.digest_sources import register_digest_source
from jifen.tenants.notifications.service import notify, register_messages
from jifen.tenants.points.applications import own_households
from jifen.tenants.villages.models import Village
from jifen.tenants.villages.scopes import village_area_path

register_url_object("honour_title_id", HonourTitle)
register_url_object("shortlist_id", HonourShortlist)
register_url_object("honour_candidate_id", HonourCandidate)
register_scope_path(HonourShortlist, lambda s: village_area_path(s.village_id))


def _candidate_path(c: HonourCandidate) -> dict:
    household = tenant_get(Household, c.household_id)
    path = household_path(household) if household is not None else {"household": {c.household_id}}
    return path | {"village": {c.village_id}}


register_scope_path(HonourCandidate, _candidate_path)

MAX_NAME_ZH, MAX_NAME_EN, MAX_REASON, MAX_TAG = 64, 100, 500, 64
MAX_QUOTA, MAX_SORT_ORDER, DEFAULT_QUOTA = 100, 999, 5
TAG = Text(MAX_TAG)  # a household tag's code or name


def _title_name(p: dict) -> str:
    return localized(p.get("title_zh", ""), p.get("title_en", ""))


register_messages({
    "honour_confirmed": lambda p: _("Congratulations: your household was awarded “%(title)s” for %(period)s.",
                                    title=_title_name(p), period=p.get("period", "")),
})


# --- titles ----------------------------------------------------------------------------------------

def title_name(title: HonourTitle) -> str:
    return localized(title.name_zh, title.name_en)


def snapshot(title: HonourTitle) -> dict:
    return {"name_zh": title.name_zh, "name_en": title.name_en, "quota": title.quota, "min_points": title.min_points,
            "min_stars": title.min_stars, "required_tag": title.required_tag, "no_veto": title.no_veto,
            "active": title.active, "sort_order": title.sort_order}


def check_tag(data: dict, errors: dict, conflicts: dict, current: str | None = None) -> str | None:
    """The household tag asked for (its code, by code or name), None when none is; a name that is
    no tag of the township is a conflict (the township's tags decide)."""
    raw = check(TAG, data.get("required_tag", current), "required_tag", errors)
    if not raw:
        return None
    tag = tag_by_label(raw)
    if tag is None:
        conflicts["required_tag"] = [_("Unknown tag “%(tag)s”.", tag=raw[:32])]
        return None
    return tag.code


def _check(data: dict, title: HonourTitle | None) -> dict:
    data = data or {}
    errors, conflicts = {}, {}
    cur = snapshot(title) if title else {"quota": DEFAULT_QUOTA, "no_veto": True, "active": True, "sort_order": 0}
    values = {
        "name_zh": text(data, "name_zh", MAX_NAME_ZH, errors, required=True, current=cur.get("name_zh", "")),
        "name_en": text(data, "name_en", MAX_NAME_EN, errors, current=cur.get("name_en", "")),
        "quota": optional_int(data, "quota", errors, 1, MAX_QUOTA, cur.get("quota")),
        "min_points": optional_int(data, "min_points", errors, 0, stars.MAX_POINTS, cur.get("min_points")),
        "min_stars": optional_int(data, "min_stars", errors, 1, stars.MAX_STARS, cur.get("min_stars")),
        "required_tag": check_tag(data, errors, conflicts, cur.get("required_tag")),
        "no_veto": flag(data, "no_veto", cur["no_veto"]),
        "active": flag(data, "active", cur["active"]),
        "sort_order": optional_int(data, "sort_order", errors, 0, MAX_SORT_ORDER, cur["sort_order"]) or 0,
    }
    if values["quota"] is None and "quota" not in errors:
        errors["quota"] = [_("Give how many households of a village may get the title.")]
    if values["name_zh"] and "name_zh" not in errors:
        clash = db.session.execute(select(HonourTitle.id).where(HonourTitle.name_zh == values["name_zh"])).scalar()
        if clash is not None and (title is None or clash != title.id):
            conflicts["name_zh"] = [_("Another title has this name.")]
    refuse(errors, conflicts)
    return values


def _commit_unique(field: str) -> None:
    try:
        db.session.flush()
    except IntegrityError as e:
        db.session.rollback()
        raise InputConflict.field(field, _("Another one has this name.")) from e


@action("honour.manage")
def create_title(actor: Actor, data: dict) -> HonourTitle:
    title = HonourTitle(**_check(data, None))
    db.session.add(title)
    _commit_unique("name_zh")
    record(actor, "honour_title.create", title, after=snapshot(title))
    return title


@action("honour.manage")
def update_title(actor: Actor, title_id, data: dict) -> HonourTitle:
    title = tenant_get_or_404(HonourTitle, title_id)
    before = snapshot(title)
    for name, value in _check(data, title).items():
        setattr(title, name, value)
    _commit_unique("name_zh")
    if snapshot(title) != before:
        record(actor, "honour_title.update", title, before=before, after=snapshot(title))
    return title


@action("honour.view")
def list_titles(actor: Actor, include_inactive: bool = False) -> list[HonourTitle]:
    rows = db.session.execute(select(HonourTitle)).scalars().all()
    rows = [t for t in rows if t.active or include_inactive]
    return sorted(rows, key=lambda t: (t.sort_order, pinyin_key(t.name_zh)))


@action("honour.view")
def get_title(actor: Actor, title_id) -> HonourTitle:
    return tenant_get_or_404(HonourTitle, title_id)


# --- who is eligible -------------------------------------------------------------------------------

def eligible(title: HonourTitle, village_id, period: int) -> list[stars.Rated]:
    """The village's active households meeting the title's criteria in the period, most points
    first (ties: more stars, then the head's pinyin)."""
    rated = stars.rate(period, village_id)
    tagged = None
    if title.required_tag:
        tagged = set(db.session.execute(select(HouseholdTag.household_id).where(
            HouseholdTag.tag == title.required_tag)).scalars())
    vetoed = stars.veto_hits(period, [v.item_code for v in stars.vetoes()], village_id) if title.no_veto else {}
    heads = dict(db.session.execute(select(Household.id, Household.head_name).where(
        Household.village_id == village_id)).all())
    out = [r for r in rated.values()
           if r.earned > 0
           and (title.min_points is None or r.earned >= title.min_points)
           and (title.min_stars is None or r.stars >= title.min_stars)
           and (tagged is None or r.household_id in tagged)
           and r.household_id not in vetoed]
    return sorted(out, key=lambda r: (-r.earned, -r.stars, pinyin_key(heads.get(r.household_id, "")),
                                      str(r.household_id)))


# --- shortlists ------------------------------------------------------------------------------------

def _locked_shortlist(title_id, village_id, period: int) -> HonourShortlist | None:
    return db.session.execute(select(HonourShortlist).where(
        HonourShortlist.title_id == title_id, HonourShortlist.village_id == village_id,
        HonourShortlist.period == period).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def candidates_of(shortlist_id) -> list[HonourCandidate]:
    rows = db.session.execute(select(HonourCandidate).where(HonourCandidate.shortlist_id == shortlist_id)).scalars()
    return sorted(rows, key=lambda c: (c.village_rank, -c.stars, str(c.household_id)))


@action("honour.shortlist")
def draw_shortlist(actor: Actor, title_id, village_id, period=None) -> HonourShortlist:
    """Draw (or redraw) the shortlist of a title for a village and period."""
    title = tenant_get_or_404(HonourTitle, title_id)
    errors, conflicts = {}, {}
    village = None
    try:
        village = village_or_invalid(village_id)
        if not may(actor, "honour.shortlist", village):
            conflicts["village_id"] = [_("This village is outside your area.")]
    except InputConflict as e:
        conflicts |= e.errors
    except Invalid as e:
        errors |= e.errors
    try:
        period = parse_period(period)
    except InputConflict as e:
        conflicts |= e.errors
    except Invalid as e:
        errors |= e.errors
    if not title.active:
        conflicts["title"] = [_("This title is no longer awarded.")]
    refuse(errors, conflicts)
    shortlist = _locked_shortlist(title.id, village.id, period)
    if shortlist is None:
        shortlist = HonourShortlist(title_id=title.id, village_id=village.id, period=period)
        db.session.add(shortlist)
        try:
            db.session.flush()
        except IntegrityError as e:
            db.session.rollback()
            raise Conflict(_("Someone else is drawing this shortlist right now. Reload and try again.")) from e
    existing = candidates_of(shortlist.id)
    decided = {c.household_id for c in existing if c.status != SHORTLISTED}
    confirmed = sum(c.status == CONFIRMED for c in existing)
    db.session.execute(delete(HonourCandidate).where(HonourCandidate.shortlist_id == shortlist.id,
                                                     HonourCandidate.status == SHORTLISTED))
    found = eligible(title, village.id, period)
    pool = [r for r in found if r.household_id not in decided]
    slots = max(title.quota - confirmed, 0)
    picked = pool[:slots]
    tied_value = None
    if slots and len(pool) > slots and pool[slots].earned == pool[slots - 1].earned:
        tied_value = pool[slots - 1].earned
        picked += [r for r in pool[slots:] if r.earned == tied_value]
    db.session.add_all(HonourCandidate(shortlist_id=shortlist.id, title_id=title.id, village_id=village.id,
                                       period=period, household_id=r.household_id, earned=r.earned, stars=r.stars,
                                       village_rank=r.rank, tied=r.earned == tied_value) for r in picked)
    shortlist.eligible = len(found)
    shortlist.drawn_by, shortlist.drawn_by_name, shortlist.drawn_at = actor.id, actor.name, clock.now()
    db.session.flush()
    record(actor, "honour.shortlist", shortlist, after={
        "title": title.name_zh, "village": village.name, "period": period, "eligible": len(found),
        "households": [str(r.household_id) for r in picked]})
    return shortlist


@action("honour.view")
def get_shortlist(actor: Actor, shortlist_id) -> HonourShortlist:
    shortlist = tenant_get_or_404(HonourShortlist, shortlist_id)
    authorize(actor, "honour.view", shortlist)
    return shortlist


@action("honour.view")
def shortlists(actor: Actor, village_id, period=None) -> dict:
    """{title id: HonourShortlist} of a village and period."""
    village = tenant_get_or_404(Village, village_id)
    authorize(actor, "honour.view", VillageArea(village.id))
    period = parse_period(period)
    return {s.title_id: s for s in db.session.execute(select(HonourShortlist).where(
        HonourShortlist.village_id == village.id, HonourShortlist.period == period)).scalars()}


@dataclass
class Counts:
    shortlisted: int = 0
    confirmed: int = 0
    declined: int = 0


def counts(shortlist_ids) -> dict:
    """{shortlist id: Counts}."""
    out: dict = {}
    if not shortlist_ids:
        return out
    for sid, status, n in db.session.execute(select(HonourCandidate.shortlist_id, HonourCandidate.status, func.count())
                                             .where(HonourCandidate.shortlist_id.in_(list(shortlist_ids)))
                                             .group_by(HonourCandidate.shortlist_id, HonourCandidate.status)):
        setattr(out.setdefault(sid, Counts()), status, n)
    return out


# --- the panel's decision --------------------------------------------------------------------------

@action("honour.confirm")
def decide(actor: Actor, candidate_id, data: dict) -> HonourCandidate:
    """A panel member of the village confirms a candidate, or declines them with a reason."""
    candidate = tenant_get_or_404(HonourCandidate, candidate_id)
    authorize(actor, "honour.confirm", candidate)
    data = data or {}
    errors: dict = {}
    decision = str(data.get("decision") or "").strip()
    if decision not in ("confirm", "decline"):
        errors["decision"] = [_("Choose confirm or decline.")]
    reason = text(data, "reason", MAX_REASON, errors, required=decision == "decline")
    if decision == "decline" and "reason" in errors and not reason:
        errors["reason"] = [_("Say why the household is declined.")]
    Invalid.raise_if(errors)
    shortlist = _locked_shortlist(candidate.title_id, candidate.village_id, candidate.period)
    candidate = db.session.execute(select(HonourCandidate).where(HonourCandidate.id == candidate.id)
                                   .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
    if shortlist is None or candidate is None:  # redrawn meanwhile
        raise NotFound(_("Not found."))
    title = tenant_get(HonourTitle, candidate.title_id)
    if candidate.status != SHORTLISTED:
        raise InputConflict.field("decision", _("This candidate has already been decided on."))
    if candidate.household_id in own_households(actor):
        raise InputConflict.field("decision", _("You may not decide on your own household."))
    if decision == "confirm":
        confirmed = db.session.execute(select(func.count()).select_from(HonourCandidate).where(
            HonourCandidate.shortlist_id == shortlist.id, HonourCandidate.status == CONFIRMED)).scalar_one()
        if confirmed >= title.quota:
            raise InputConflict.field("decision", _("All %(n)d places of this title in the village are taken.",
                                                    n=title.quota))
    candidate.status = CONFIRMED if decision == "confirm" else DECLINED
    candidate.reason = reason
    candidate.decided_by, candidate.decided_by_name, candidate.decided_at = actor.id, actor.name, clock.now()
    db.session.flush()
    if decision == "confirm":
        notify(candidate.household_id, "honour_confirmed", f"honour:{candidate.id}",
               link=f"honours/households/{candidate.household_id}?period={candidate.period}",
               title_zh=title.name_zh, title_en=title.name_en, period=candidate.period)
    record(actor, f"honour.{decision}", candidate, before={"status": SHORTLISTED},
           after={"status": candidate.status, "title": title.name_zh, "period": candidate.period,
                  "household": str(candidate.household_id), "reason": reason})
    return candidate


def may_decide(actor: Actor, candidate: HonourCandidate) -> bool:
    return (candidate.status == SHORTLISTED and may(actor, "honour.confirm", candidate)
            and candidate.household_id not in own_households(actor))


# --- what the wall, the file and the digest read ------------------------------------------------------

def confirmed_in(village_id, period: int) -> list[tuple[HonourTitle, list[tuple[HonourCandidate, Household]]]]:
    """Confirmed titles of a village and period: each title with its households (pinyin order)."""
    rows = db.session.execute(select(HonourCandidate, Household).join(Household, Household.id == HonourCandidate.household_id)
                              .where(HonourCandidate.village_id == village_id, HonourCandidate.period == period,
                                     HonourCandidate.status == CONFIRMED)).all()
    by_title: dict = {}
    for c, h in rows:
        by_title.setdefault(c.title_id, []).append((c, h))
    titles = [tenant_get(HonourTitle, tid) for tid in by_title]
    titles = sorted((t for t in titles if t is not None), key=lambda t: (t.sort_order, pinyin_key(t.name_zh)))
    return [(t, sort_by_pinyin(by_title[t.id], key=lambda r: r[1].head_name)) for t in titles]


def household_titles(household_id) -> list[tuple[int, HonourTitle, HonourCandidate]]:
    """Titles a household was confirmed for, newest period first."""
    rows = db.session.execute(select(HonourCandidate, HonourTitle).join(HonourTitle, HonourTitle.id == HonourCandidate.title_id)
                              .where(HonourCandidate.household_id == household_id,
                                     HonourCandidate.status == CONFIRMED)).all()
    return sorted(((c.period, t, c) for c, t in rows), key=lambda r: (-r[0], r[1].sort_order, pinyin_key(r[1].name_zh)))


def waiting_shortlists(actor: Actor) -> int:
    """Shortlists with candidates the actor's panel has not decided on yet (staff digest)."""
    if actor is None or not may(actor, "honour.confirm"):
        return 0
    query = select(func.count(func.distinct(HonourCandidate.shortlist_id))).where(HonourCandidate.status == SHORTLISTED)
    villages = scope_ids(actor, "honour.confirm", "village")
    if villages is not None:
        if not villages:
            return 0
        query = query.where(HonourCandidate.village_id.in_(list(villages)))
    own = own_households(actor)
    if own:
        query = query.where(HonourCandidate.household_id.notin_(list(own)))
    return db.session.execute(query).scalar_one()


register_digest_source("honour_shortlists", _l("Honour shortlists waiting for the panel"), waiting_shortlists,
                       "honours.index")
