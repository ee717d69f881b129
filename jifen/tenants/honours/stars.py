"""评星定级: star ratings of households by earned points and place in the village, with vetoes.

The township sets, for each of 1–5 stars, a minimum of earned points in the period and/or a top
percentage within the village (both must hold when both are set), and vetoes (一票否决): rule items
whose deduction, posted in the period and not corrected away, caps the rating at a number of stars.

A household's rating is the highest configured level it meets, then capped by its vetoes. "Top p %"
means PERCENT_RANK ≤ p %, computed exactly in integers: 100·(rank − 1) ≤ p·(n − 1), where rank is
the household's RANK() by earned points among the village's n active households (households with
no points count, with 0), ties ranked equal. So tied households always get the same stars, and the
first place of a village is in every top percentage.

The ranking and the levels are computed in the database, in one statement over every household
(window functions and a CASE, the same SQL on SQLite and PostgreSQL); the nightly job
`jifen.star_ratings` stores the result, one row per household and period.
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import and_, case, delete, func, literal, select
from sqlalchemy.exc import IntegrityError

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict, refuse
from jifen.platform.input import Text, Whole, check
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action, authorize
from jifen.platform.roles.registry import register_scope_path
from jifen.platform.tenancy import current_tenant_id, insert_new, tenant_get, tenant_get_or_404
from jifen.tenants.honours.common import VillageArea, parse_period
from jifen.tenants.honours.models import StarLevel, StarRating, StarVeto
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.households.scopes import household_path
from jifen.tenants.points.ledger import period_of
from jifen.tenants.points.models import HouseholdBalance, LedgerTransaction
from jifen.tenants.rulebook.models import RuleItem
from jifen.tenants.villages.models import Village

register_scope_path(StarRating, lambda r: household_path(tenant_get(Household, r.household_id)))

MAX_POINTS = 100_000
MAX_STARS = 5
LEVELS = tuple(range(1, MAX_STARS + 1))
MAX_VETO_STARS = MAX_STARS - 1  # a veto leaves at most this many stars
MAX_ITEM_CODE = 32  # a rule item's code


# --- settings ----------------------------------------------------------------------------------

def levels() -> list[StarLevel]:
    return list(db.session.execute(select(StarLevel).order_by(StarLevel.stars)).scalars())


def vetoes() -> list[StarVeto]:
    return list(db.session.execute(select(StarVeto).order_by(StarVeto.item_code)).scalars())


def deduction_items() -> dict[str, str]:
    """Codes of the township's deduction items (any rulebook version) -> the newest title."""
    rows = db.session.execute(select(RuleItem.code, RuleItem.title_zh).where(RuleItem.direction == "deduction")
                              .order_by(RuleItem.code, RuleItem.id)).all()
    return {code: title for code, title in rows}


def settings_snapshot() -> dict:
    return {"levels": [{"stars": lv.stars, "min_points": lv.min_points, "top_percent": lv.top_percent}
                       for lv in levels()],
            "vetoes": [{"item_code": v.item_code, "max_stars": v.max_stars} for v in vetoes()]}


STARS, MIN_POINTS, TOP_PERCENT = Whole(1, MAX_STARS), Whole(0, MAX_POINTS), Whole(1, 100)
VETO_STARS, ITEM_CODE = Whole(0, MAX_VETO_STARS), Text(MAX_ITEM_CODE)

# A rule about one value is Invalid (the API document declares it); a rule across the rows (each
# number of stars once, more stars never asking less) or about the rulebook is an InputConflict:
# no JSON schema compares rows, and the rulebook is the township's data.


def _check_levels(rows, errors: dict, conflicts: dict) -> list[dict]:
    """Levels with neither criterion are not used; higher stars may not ask less than lower ones."""
    if rows is None:
        return []
    if not isinstance(rows, list | tuple):
        errors["levels"] = [_("Give the levels as a list.")]
        return []
    out, seen = [], set()
    for i, row in enumerate(rows):
        row = row if isinstance(row, dict) else {}
        stars = check(STARS, row.get("stars"), f"levels.{i}.stars", errors)
        min_points = check(MIN_POINTS, row.get("min_points"), f"levels.{i}.min_points", errors)
        top_percent = check(TOP_PERCENT, row.get("top_percent"), f"levels.{i}.top_percent", errors)
        if stars is None:
            errors.setdefault(f"levels.{i}.stars", [_("Give the number of stars, 1 to 5.")])
            continue
        if stars in seen:
            conflicts[f"levels.{i}.stars"] = [_("Each number of stars once.")]
            continue
        seen.add(stars)
        if min_points is not None or top_percent is not None:
            out.append({"stars": stars, "min_points": min_points, "top_percent": top_percent, "index": i})
    out.sort(key=lambda r: r["stars"])
    for lower, higher in zip(out, out[1:], strict=False):
        if None not in (lower["min_points"], higher["min_points"]) and higher["min_points"] < lower["min_points"]:
            conflicts[f"levels.{higher['index']}.min_points"] = [
                _("More stars cannot need fewer points than %(n)d stars (%(points)d).", n=lower["stars"],
                  points=lower["min_points"])]
        if None not in (lower["top_percent"], higher["top_percent"]) and higher["top_percent"] > lower["top_percent"]:
            conflicts[f"levels.{higher['index']}.top_percent"] = [
                _("More stars cannot take a larger share than %(n)d stars (top %(p)d%%).", n=lower["stars"],
                  p=lower["top_percent"])]
    return out


def _check_vetoes(rows, errors: dict, conflicts: dict) -> list[dict]:
    if rows is None:
        return []
    if not isinstance(rows, list | tuple):
        errors["vetoes"] = [_("Give the vetoes as a list.")]
        return []
    known = deduction_items()
    out, seen = [], set()
    for i, row in enumerate(rows):
        row = row if isinstance(row, dict) else {}
        code = check(ITEM_CODE, row.get("item_code"), f"vetoes.{i}.item_code", errors)
        if not code:
            continue  # an empty row of the form
        if code not in known:
            conflicts[f"vetoes.{i}.item_code"] = [_("“%(code)s” is not a deduction item of the rulebook.",
                                                    code=code[:32])]
        elif code in seen:
            conflicts[f"vetoes.{i}.item_code"] = [_("Each item once.")]
        seen.add(code)
        max_stars = check(VETO_STARS, row.get("max_stars"), f"vetoes.{i}.max_stars", errors)
        if max_stars is None:
            errors.setdefault(f"vetoes.{i}.max_stars", [_("Give the most stars left, 0 to 4.")])
        out.append({"item_code": code, "max_stars": max_stars})
    return out


@action("stars.manage")
def update_settings(actor: Actor, data: dict) -> dict:
    """Replace the star levels and the vetoes (all of each that is given). Ratings follow at the
    next nightly run, or at once with `recompute`."""
    data = data or {}
    errors, conflicts = {}, {}
    new_levels = _check_levels(data["levels"], errors, conflicts) if "levels" in data else None
    new_vetoes = _check_vetoes(data["vetoes"], errors, conflicts) if "vetoes" in data else None
    refuse(errors, conflicts)
    before = settings_snapshot()
    if new_levels is not None:
        db.session.execute(delete(StarLevel))
        db.session.add_all(StarLevel(stars=r["stars"], min_points=r["min_points"], top_percent=r["top_percent"])
                           for r in new_levels)
    if new_vetoes is not None:
        db.session.execute(delete(StarVeto))
        db.session.add_all(StarVeto(item_code=r["item_code"], max_stars=r["max_stars"]) for r in new_vetoes)
    db.session.flush()
    after = settings_snapshot()
    if after != before:
        record(actor, "stars.settings", object_type="star_settings", object_id=current_tenant_id(), before=before,
               after=after)
    return after


# --- computing ratings -----------------------------------------------------------------------------

@dataclass
class Rated:
    household_id: uuid.UUID
    village_id: uuid.UUID
    earned: int
    rank: int
    households: int
    points_stars: int
    stars: int
    capped_by: list = field(default_factory=list)  # veto item codes that hold the rating down


def _in_top(rank, n, percent: int):
    """PERCENT_RANK ≤ percent %, exactly: 100·(rank − 1) ≤ percent·(n − 1)."""
    return 100 * (rank - 1) <= percent * (n - 1)


def _ranking(period: int, village_id=None):
    """Every active household of the township (or one village) with its earned points of `period`,
    RANK() and COUNT() over its village. The tenant guard filters both tables (and the tenant is
    also part of the join)."""
    earned = func.coalesce(HouseholdBalance.earned, 0)
    query = (select(Household.id.label("household_id"), Household.village_id.label("village_id"),
                    earned.label("earned"),
                    func.rank().over(partition_by=Household.village_id, order_by=earned.desc()).label("rnk"),
                    func.count().over(partition_by=Household.village_id).label("n"))
             .select_from(Household)
             .outerjoin(HouseholdBalance, and_(HouseholdBalance.tenant_id == Household.tenant_id,
                                               HouseholdBalance.household_id == Household.id,
                                               HouseholdBalance.period == period))
             .where(Household.status == ACTIVE))
    if village_id is not None:
        query = query.where(Household.village_id == village_id)
    return query.subquery("ranked")


def _points_stars(ranked, configured: list[StarLevel]):
    """CASE: the highest configured level whose criteria the row meets, else 0."""
    whens = []
    for lv in sorted(configured, key=lambda lv: -lv.stars):
        parts = []
        if lv.min_points is not None:
            parts.append(ranked.c.earned >= lv.min_points)
        if lv.top_percent is not None:
            parts.append(_in_top(ranked.c.rnk, ranked.c.n, lv.top_percent))
        if parts:
            whens.append((and_(*parts), lv.stars))
    return case(*whens, else_=0) if whens else literal(0)


def veto_hits(period: int, codes, village_id=None, household_ids=None) -> dict:
    """{household: [item codes]} of households with a deduction of a veto item in the period that
    corrections have not taken back (its entries of the item sum below zero)."""
    codes = sorted(set(codes))
    if not codes:
        return {}
    query = (select(LedgerTransaction.household_id, LedgerTransaction.item_code)
             .where(LedgerTransaction.period == period, LedgerTransaction.item_code.in_(codes))
             .group_by(LedgerTransaction.household_id, LedgerTransaction.item_code)
             .having(func.sum(LedgerTransaction.points) < 0))
    if village_id is not None:
        query = query.where(LedgerTransaction.household_id.in_(
            select(Household.id).where(Household.village_id == village_id)))
    if household_ids is not None:
        query = query.where(LedgerTransaction.household_id.in_(list(household_ids)))
    hits: dict = {}
    for household_id, code in db.session.execute(query):
        hits.setdefault(household_id, []).append(code)
    return {h: sorted(c) for h, c in hits.items()}


def rate(period: int, village_id=None) -> dict:
    """{household id: Rated} for every active household (of one village), as of now."""
    configured = levels()
    caps = {v.item_code: v.max_stars for v in vetoes()}
    ranked = _ranking(period, village_id)
    rows = db.session.execute(select(ranked.c.household_id, ranked.c.village_id, ranked.c.earned, ranked.c.rnk,
                                     ranked.c.n, _points_stars(ranked, configured).label("points_stars"))).all()
    hits = veto_hits(period, caps, village_id)
    out = {}
    for household_id, vid, earned, rnk, n, points_stars in rows:
        codes = hits.get(household_id, [])
        cap = min((caps[c] for c in codes), default=5)
        stars = min(int(points_stars), cap)
        out[household_id] = Rated(household_id, vid, int(earned), int(rnk), int(n), int(points_stars), stars,
                                  [c for c in codes if caps[c] < points_stars] if stars < points_stars else [])
    return out


def store(period: int, rated: dict, day: date) -> dict:
    """Write the ratings of `period`: update rows that changed, add new ones, drop those of
    households no longer active. Running it again with the same ratings changes nothing."""
    existing = {r.household_id: r for r in db.session.execute(
        select(StarRating).where(StarRating.period == period)).scalars()}
    new, changed = [], 0
    for household_id, r in rated.items():
        values = {"village_id": r.village_id, "stars": r.stars, "points_stars": r.points_stars, "earned": r.earned,
                  "village_rank": r.rank, "village_households": r.households, "capped_by": ",".join(r.capped_by)}
        row = existing.get(household_id)
        if row is None:
            new.append(values | {"household_id": household_id, "period": period, "computed_on": day})
        elif any(getattr(row, k) != v for k, v in values.items()) or row.computed_on != day:
            changed += 1
            for k, v in values.items():
                setattr(row, k, v)
            row.computed_on = day
    gone = [h for h in existing if h not in rated]
    if gone:
        db.session.execute(delete(StarRating).where(StarRating.period == period,
                                                    StarRating.household_id.in_(gone)))
    db.session.flush()
    insert_new(StarRating, new)
    return {"period": period, "households": len(rated), "added": len(new), "updated": changed,
            "removed": len(gone), "stars": {str(k): v for k, v in sorted(Counter(r.stars for r in rated.values()).items())}}


def periods_to_rate(day: date) -> list[int]:
    """The period of `day`; in January also the one before (late postings of December's conduct
    still arrive through January's notices)."""
    current = period_of(day)
    return [current, current - 1] if day.month == 1 else [current]


def nightly(day: date) -> dict:
    """The job's body: rate every active household for the period(s) and store it, one
    transaction per period."""
    out = {}
    for period in periods_to_rate(day):
        out[str(period)] = store(period, rate(period), day)
        db.session.commit()
    return out


@action("stars.manage")
def recompute(actor: Actor, period=None) -> dict:
    """Rate now (after changing the settings) instead of waiting for the night."""
    period = parse_period(period)
    try:
        result = store(period, rate(period), clock.today())
        record(actor, "stars.recompute", object_type="star_ratings", object_id=period, after=result)
        db.session.flush()
    except IntegrityError as e:  # the nightly job wrote the same rows at this moment
        db.session.rollback()
        raise Conflict(_("The ratings are being computed right now. Try again in a minute.")) from e
    return result


# --- reading ratings ---------------------------------------------------------------------------------

@dataclass
class NextStar:
    """What the household still needs for `stars`: `points` more (None: nothing points can do,
    when `blocked_by` veto items cap it), about `top_percent` when the level takes a share."""

    stars: int
    points: int | None
    min_points: int | None = None
    top_percent: int | None = None
    blocked_by: list = field(default_factory=list)
    cap: int | None = None


@dataclass
class HouseholdStars:
    household: Household
    period: int
    rating: StarRating | Rated | None
    stored: bool  # from the nightly job (else computed now: the job has not rated this period yet)
    next: NextStar | None
    configured: bool  # the township has set star levels

    @property
    def stars(self) -> int:
        return self.rating.stars if self.rating is not None else 0

    @property
    def capped_by(self) -> list[str]:
        raw = getattr(self.rating, "capped_by", []) if self.rating is not None else []
        return [c for c in raw.split(",") if c] if isinstance(raw, str) else list(raw)


def stored_rating(household_id, period: int) -> StarRating | None:
    return db.session.execute(select(StarRating).where(StarRating.household_id == household_id,
                                                       StarRating.period == period)).scalar_one_or_none()


def _others_earned(village_id, period: int, household_id) -> list[int]:
    ranked = _ranking(period, village_id)
    return sorted((int(e) for h, e in db.session.execute(select(ranked.c.household_id, ranked.c.earned))
                   if h != household_id), reverse=True)


def next_star(rating, period: int, configured: list[StarLevel] | None = None,
              caps: dict | None = None) -> NextStar | None:
    """The next configured level above the household's stars and what it needs; None at the top."""
    configured = levels() if configured is None else configured
    caps = {v.item_code: v.max_stars for v in vetoes()} if caps is None else caps
    stars = rating.stars
    level = next((lv for lv in configured if lv.stars > stars), None)
    if level is None:
        return None
    hits = veto_hits(period, caps, household_ids=[rating.household_id]).get(rating.household_id, [])
    blocking = [c for c in hits if caps.get(c, 5) < level.stars]
    if blocking:
        return NextStar(level.stars, None, level.min_points, level.top_percent, blocking,
                        min(caps[c] for c in blocking))
    need = 0
    if level.min_points is not None:
        need = max(need, level.min_points - rating.earned)
    if level.top_percent is not None:
        others = _others_earned(rating.village_id, period, rating.household_id)
        n = len(others) + 1
        places = level.top_percent * (n - 1) // 100 + 1  # ranks 1..places are in the top share
        if places <= len(others):
            need = max(need, others[places - 1] - rating.earned)
    return NextStar(level.stars, max(need, 0), level.min_points, level.top_percent)


@action("stars.view")
def household_stars(actor: Actor, household_id, period=None) -> HouseholdStars:
    """A household's stars for the period and what the next star needs. Before the nightly job
    has rated the period, the rating is computed now (and said so)."""
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, "stars.view", household)
    period = parse_period(period)
    configured = levels()
    rating = stored_rating(household.id, period)
    stored = rating is not None
    if rating is None and configured and household.status == ACTIVE:
        rating = rate(period, household.village_id).get(household.id)
    hint = next_star(rating, period, configured) if rating is not None and configured else None
    return HouseholdStars(household, period, rating, stored, hint, bool(configured))


@dataclass
class VillageStars:
    village_id: uuid.UUID
    period: int
    rows: list  # (StarRating, Household), most stars first, then points, then pinyin
    distribution: dict  # stars 0..5 -> households
    computed_on: date | None


@action("stars.view")
def village_stars(actor: Actor, village_id, period=None) -> VillageStars:
    """The village's stored ratings of the period and how many households have each number of stars."""
    area = VillageArea(tenant_get_or_404(Village, village_id).id)
    authorize(actor, "stars.view", area)
    period = parse_period(period)
    rows = db.session.execute(select(StarRating, Household).join(Household, Household.id == StarRating.household_id)
                              .where(StarRating.village_id == area.village_id, StarRating.period == period)).all()
    rows = sorted(rows, key=lambda r: (-r[0].stars, -r[0].earned, pinyin_key(r[1].head_name), r[1].door_plate))
    distribution = {n: 0 for n in range(6)}
    distribution.update(Counter(r.stars for r, _h in rows))
    computed = max((r.computed_on for r, _h in rows), default=None)
    return VillageStars(area.village_id, period, rows, distribution, computed)
