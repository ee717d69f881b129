"""Township API: Star ratings, honour titles and recommendation lists"""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY, idempotent
from jifen.platform.blueprint import Blueprint
from jifen.platform.files.responses import XLSX_MIMETYPE, xlsx_response
from jifen.platform.input import FILLED_PATTERN, period, text, whole
from jifen.platform.roles.authz import authorize
from jifen.platform.schemas import Schema
from jifen.platform.tenancy import tenant_get
from jifen.platform.web import current_actor
from jifen.tenants.honours import recommendations, stars, titles, wall
from jifen.tenants.honours.models import CANDIDATE_STATES, NAME_DISPLAYS
from jifen.tenants.households.models import RELATIONS, Household

blp = Blueprint("honours_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/honours", description="Star ratings, honour titles and recommendation lists")


def _d(description: str, **more) -> dict:
    return {"description": description, **more}


# --- settings --------------------------------------------------------------------------------------

STARS, MIN_POINTS, TOP_PERCENT = stars.STARS, stars.MIN_POINTS, stars.TOP_PERCENT  # (a field is called stars)


class StarLevelSchema(Schema):
    stars = whole(STARS.low, STARS.high, required=True,
                  metadata=_d(f"{STARS.low} to {STARS.high}; each once (else a 409)."))
    min_points = whole(MIN_POINTS.low, MIN_POINTS.high, allow_none=True,
                       metadata=_d("Earned points of the period needed; more stars may not need fewer (409)."))
    top_percent = whole(TOP_PERCENT.low, TOP_PERCENT.high, allow_none=True, metadata=_d(
        "Needed place: within the top this-many percent of the village (PERCENT_RANK ≤ p %); more stars may not "
        "take a larger share (409)."))


class StarVetoSchema(Schema):
    item_code = text(stars.MAX_ITEM_CODE, required=True,
                     metadata=_d("Code of a deduction item of the rulebook (another code is a 409)."))
    max_stars = whole(stars.VETO_STARS.low, stars.VETO_STARS.high, required=True, metadata=_d(
        f"A deduction of the item posted in the period caps the rating at this many stars "
        f"({stars.VETO_STARS.low} to {stars.VETO_STARS.high})."))


class HonourSettingsSchema(Schema):
    levels = fields.List(fields.Nested(StarLevelSchema), metadata=_d(
        "Every star level in use (replaces them all). A level with neither criterion is not used; both set: "
        "both are needed. More stars may not need fewer points or a larger share."))
    vetoes = fields.List(fields.Nested(StarVetoSchema), metadata=_d("一票否决 items (replaces them all)."))
    name_display = fields.String(validate=validate.OneOf(NAME_DISPLAYS),
                                 metadata=_d("How the public honour wall shows names: masked (张*伟) or full."))
    wall_size = whole(wall.MIN_WALL_SIZE, wall.MAX_WALL_SIZE, metadata=_d(
        f"Households the honour wall lists ({wall.MIN_WALL_SIZE} to {wall.MAX_WALL_SIZE}; ties at the last place "
        "all show)."))


def _settings() -> dict:
    return stars.settings_snapshot() | wall.settings_snapshot()


@blp.route("/settings")
class Settings(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, HonourSettingsSchema)
    def get(self):
        """The star levels, the vetoes and the honour wall's settings (township admin)."""
        authorize(current_actor(), "stars.manage")
        return _settings()

    @blp.doc(security=SECURITY)
    @blp.arguments(HonourSettingsSchema)
    @blp.response(200, HonourSettingsSchema)
    def put(self, data):
        """Change the settings; what is left out stays. Ratings follow at the next night (or `recompute`)."""
        actor = current_actor()
        star_part = {k: data[k] for k in ("levels", "vetoes") if k in data}
        wall_part = {k: data[k] for k in ("name_display", "wall_size") if k in data}
        if star_part:
            stars.update_settings(actor, star_part)
        if wall_part:
            wall.update_settings(actor, wall_part)
        if not star_part and not wall_part:
            authorize(actor, "stars.manage")
        return _settings()


# --- ratings ---------------------------------------------------------------------------------------

PERIOD_NOTE = "The year; this year when left out (a later year is a 409)."


class HonourPeriodArgs(Schema):
    period = period(strict=False, metadata=_d(PERIOD_NOTE))


class StarRecomputeSchema(Schema):
    period = period(allow_none=True, metadata=_d(PERIOD_NOTE))


class StarRecomputedSchema(Schema):
    period = fields.Integer()
    households = fields.Integer(metadata=_d("Active households rated."))
    added = fields.Integer()
    updated = fields.Integer()
    removed = fields.Integer(metadata=_d("Ratings of households no longer active, dropped."))


class NextStarSchema(Schema):
    stars = fields.Integer(metadata=_d("The next level above the household's stars."))
    points = fields.Integer(allow_none=True, metadata=_d("About how many more earned points it needs (its "
                                                         "minimum and its top-percentage place as the village "
                                                         "stands); null when a veto blocks it."))
    min_points = fields.Integer(allow_none=True)
    top_percent = fields.Integer(allow_none=True)
    blocked_by = fields.List(fields.String(), metadata=_d("Veto items deducted this period that cap the rating "
                                                          "below this level."))
    cap = fields.Integer(allow_none=True, metadata=_d("The stars those vetoes leave at most."))


class HouseholdStarsSchema(Schema):
    household_id = fields.UUID()
    period = fields.Integer()
    stars = fields.Integer(metadata=_d("0 to 5, after the vetoes."))
    points_stars = fields.Integer(allow_none=True, metadata=_d("What points and place alone give."))
    earned = fields.Integer(allow_none=True)
    village_rank = fields.Integer(allow_none=True)
    village_households = fields.Integer(allow_none=True)
    capped_by = fields.List(fields.String(), metadata=_d("Veto items that hold the rating down."))
    computed_on = fields.Date(allow_none=True, metadata=_d("The nightly run it comes from; null: computed now "
                                                           "because the job has not rated this period yet."))
    configured = fields.Boolean(metadata=_d("False: the township has set no star levels."))
    next = fields.Nested(NextStarSchema, allow_none=True, metadata=_d("Null at the top level."))


class VillageStarsRowSchema(Schema):
    household_id = fields.UUID()
    head_name = fields.String()
    door_plate = fields.String()
    stars = fields.Integer()
    points_stars = fields.Integer()
    earned = fields.Integer()
    village_rank = fields.Integer()
    capped_by = fields.List(fields.String())


class VillageStarsSchema(Schema):
    village_id = fields.UUID()
    period = fields.Integer()
    computed_on = fields.Date(allow_none=True, metadata=_d("Null: not rated yet for this period."))
    distribution = fields.Dict(keys=fields.String(), values=fields.Integer(),
                               metadata=_d("Stars (\"0\"…\"5\") -> households."))
    households = fields.List(fields.Nested(VillageStarsRowSchema), metadata=_d(
        "Most stars first, then points, then the head's pinyin."))


def _codes(raw) -> list[str]:
    return [c for c in raw.split(",") if c] if isinstance(raw, str) else list(raw or [])


@blp.route("/ratings/recompute")
class Recompute(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(StarRecomputeSchema)
    @blp.response(200, StarRecomputedSchema)
    def post(self, data):
        """Rate every active household now (township admin), e.g. after changing the levels."""
        result = stars.recompute(current_actor(), data.get("period"))
        return result


@blp.route("/ratings/households/<uuid:household_id>")
class HouseholdRating(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HonourPeriodArgs, location="query")
    @blp.response(200, HouseholdStarsSchema)
    def get(self, args, household_id):
        """A household's stars and what the next star needs (the household itself, or staff of its area)."""
        found = stars.household_stars(current_actor(), household_id, args.get("period"))
        r = found.rating
        return {"household_id": found.household.id, "period": found.period, "stars": found.stars,
                "points_stars": getattr(r, "points_stars", None), "earned": getattr(r, "earned", None),
                "village_rank": getattr(r, "village_rank", getattr(r, "rank", None)),
                "village_households": getattr(r, "village_households", getattr(r, "households", None)),
                "capped_by": found.capped_by, "computed_on": getattr(r, "computed_on", None) if found.stored else None,
                "configured": found.configured, "next": found.next}


@blp.route("/ratings/villages/<uuid:village_id>")
class VillageRatings(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HonourPeriodArgs, location="query")
    @blp.response(200, VillageStarsSchema)
    def get(self, args, village_id):
        """A village's star distribution and every household's rating (staff of the village)."""
        found = stars.village_stars(current_actor(), village_id, args.get("period"))
        return {"village_id": found.village_id, "period": found.period, "computed_on": found.computed_on,
                "distribution": {str(k): v for k, v in found.distribution.items()},
                "households": [{"household_id": r.household_id, "head_name": h.head_name, "door_plate": h.door_plate,
                                "stars": r.stars, "points_stars": r.points_stars, "earned": r.earned,
                                "village_rank": r.village_rank, "capped_by": _codes(r.capped_by)}
                               for r, h in found.rows]}


# --- titles ----------------------------------------------------------------------------------------

class HonourTitleSchema(Schema):
    id = fields.UUID(dump_only=True)
    name_zh = text(titles.MAX_NAME_ZH, required=True, metadata=_d(
        f"e.g. 最美家庭 (at most {titles.MAX_NAME_ZH} characters; another title's name is a 409)."))
    name_en = text(titles.MAX_NAME_EN, metadata=_d("e.g. Most Beautiful Family."))
    quota = whole(1, titles.MAX_QUOTA, metadata=_d(f"Households per village and period (1 to {titles.MAX_QUOTA}; "
                                                   f"default {titles.DEFAULT_QUOTA})."))
    min_points = whole(0, stars.MAX_POINTS, allow_none=True, metadata=_d("Earned points of the period needed."))
    min_stars = whole(1, stars.MAX_STARS, allow_none=True, metadata=_d(f"Stars needed (1 to {stars.MAX_STARS})."))
    required_tag = text(titles.MAX_TAG, metadata=_d("A household tag the household must carry (code or name, e.g. "
                                                    "party_member / 党员户; no such tag is a 409)."))
    no_veto = fields.Boolean(metadata=_d("No deduction of a veto item in the period (default true)."))
    active = fields.Boolean(metadata=_d("False: no longer awarded (its past awards stay)."))
    sort_order = whole(0, titles.MAX_SORT_ORDER)


class HonourDrawSchema(Schema):
    village_id = fields.UUID(required=True)
    period = period(allow_none=True, metadata=_d(PERIOD_NOTE))


class HonourCandidateSchema(Schema):
    id = fields.UUID()
    household_id = fields.UUID()
    head_name = fields.Method("_head")
    earned = fields.Integer()
    stars = fields.Integer()
    village_rank = fields.Integer()
    tied = fields.Boolean(metadata=_d("Tied on points with the last place within the quota (the panel chooses)."))
    status = fields.String(metadata=_d("shortlisted, confirmed or declined", enum=list(CANDIDATE_STATES)))
    reason = fields.String(metadata=_d("Why it was declined (or a note on the confirmation)."))
    decided_by_name = fields.String()
    decided_at = fields.DateTime(allow_none=True)

    def _head(self, c):
        h = tenant_get(Household, c.household_id)
        return h.head_name if h else ""


class HonourShortlistSchema(Schema):
    id = fields.UUID()
    title_id = fields.UUID()
    village_id = fields.UUID()
    period = fields.Integer()
    eligible = fields.Integer(metadata=_d("Households meeting the criteria when it was drawn."))
    drawn_by_name = fields.String()
    drawn_at = fields.DateTime()


class HonourShortlistDetailSchema(HonourShortlistSchema):
    candidates = fields.Method("_candidates", metadata=_d("Households on it, by village rank.",
                                                          type="array", items={"type": "object"}))

    def _candidates(self, s):
        return HonourCandidateSchema(many=True).dump(titles.candidates_of(s.id))


class HonourShortlistArgs(Schema):
    village_id = fields.UUID(required=True)
    period = period(strict=False, metadata=_d(PERIOD_NOTE))


class HonourDecisionSchema(Schema):
    document_rules = {"anyOf": [{"properties": {"decision": {"enum": ["confirm"]}}},
                                {"required": ["reason"], "properties": {"reason": {"pattern": FILLED_PATTERN}}}]}

    decision = fields.String(required=True, validate=validate.OneOf(["confirm", "decline"]),
                             metadata=_d("confirm or decline"))
    reason = text(titles.MAX_REASON, metadata=_d("Required to decline."))


@blp.route("/titles")
class Titles(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, HonourTitleSchema(many=True))
    def get(self):
        """The township's honour titles (inactive ones too)."""
        return titles.list_titles(current_actor(), include_inactive=True)

    @blp.doc(security=SECURITY)
    @blp.arguments(HonourTitleSchema)
    @idempotent
    @blp.response(201, HonourTitleSchema)
    def post(self, data):
        """Define a title (township admin)."""
        title = titles.create_title(current_actor(), data)
        return title


@blp.route("/titles/<uuid:honour_title_id>")
class TitleDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, HonourTitleSchema)
    def get(self, honour_title_id):
        return titles.get_title(current_actor(), honour_title_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(HonourTitleSchema(partial=True))
    @blp.response(200, HonourTitleSchema)
    def patch(self, data, honour_title_id):
        """Change a title's name, quota or criteria (township admin); shortlists drawn before stay."""
        title = titles.update_title(current_actor(), honour_title_id, data)
        return title


@blp.route("/titles/<uuid:honour_title_id>/shortlists")
class Draw(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HonourDrawSchema)
    @idempotent
    @blp.response(201, HonourShortlistDetailSchema)
    def post(self, data, honour_title_id):
        """Draw (or redraw) the title's shortlist of a village for a period (village admin, township admin).
        Redrawing keeps the panel's decisions and refills the open places."""
        shortlist = titles.draw_shortlist(current_actor(), honour_title_id, data["village_id"], data.get("period"))
        return shortlist


@blp.route("/shortlists")
class Shortlists(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HonourShortlistArgs, location="query")
    @blp.response(200, HonourShortlistSchema(many=True))
    def get(self, args):
        """The shortlists of a village and period."""
        return list(titles.shortlists(current_actor(), args["village_id"], args.get("period")).values())


@blp.route("/shortlists/<uuid:shortlist_id>")
class ShortlistDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, HonourShortlistDetailSchema)
    def get(self, shortlist_id):
        return titles.get_shortlist(current_actor(), shortlist_id)


@blp.route("/candidates/<uuid:honour_candidate_id>/decision")
class Decision(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HonourDecisionSchema)
    @blp.response(200, HonourCandidateSchema)
    def post(self, data, honour_candidate_id):
        """The village's panel confirms a candidate or declines them with a reason (never their own household;
        never beyond the quota). The household is told of a confirmation."""
        candidate = titles.decide(current_actor(), honour_candidate_id, data)
        return candidate


# --- recommendation lists ----------------------------------------------------------------------------

class RecommendationListSchema(Schema):
    id = fields.UUID(dump_only=True)
    name_zh = text(recommendations.MAX_NAME_ZH, required=True, metadata=_d(
        f"e.g. 村班子后备人选 (at most {recommendations.MAX_NAME_ZH} characters; another list's name is a 409)."))
    name_en = text(recommendations.MAX_NAME_EN)
    note = text(recommendations.MAX_NOTE, metadata=_d("What the list is for."))
    min_points = whole(0, stars.MAX_POINTS, allow_none=True,
                       metadata=_d("Household earned points of the period needed."))
    min_stars = whole(1, stars.MAX_STARS, allow_none=True)
    no_veto = fields.Boolean(metadata=_d("No deduction of a veto item in the period (default true)."))
    min_age = whole(0, recommendations.MAX_AGE, allow_none=True, metadata=_d("Ages from the ID number's birth date."))
    max_age = whole(0, recommendations.MAX_AGE, allow_none=True,
                    metadata=_d("Not below min_age (the list's, when left out): else a 409."))
    required_tag = text(titles.MAX_TAG, metadata=_d("A household tag (code or name; no such tag is a 409)."))
    relation = fields.String(allow_none=True, metadata=_d("Only members of this relation to the head; null: any.",
                                                         enum=[*RELATIONS, None]))
    active = fields.Boolean()
    sort_order = whole(0, titles.MAX_SORT_ORDER)


class RecommendationMembersArgs(Schema):
    village_id = fields.UUID(required=True)
    period = period(strict=False, metadata=_d(PERIOD_NOTE))
    masked = fields.Boolean(load_default=False, metadata=_d("Mask ID numbers even for those who may see them."))


class RecommendationMemberSchema(Schema):
    resident_id = fields.UUID(attribute="resident.id")
    name = fields.String(attribute="resident.name")
    relation = fields.String(attribute="resident.relation")
    age = fields.Integer(allow_none=True, metadata=_d("null: unknown (no readable ID number)."))
    id_number = fields.String(metadata=_d("Masked unless you may see ID numbers (and did not ask for masked)."))
    household_id = fields.UUID(attribute="household.id")
    head_name = fields.String(attribute="household.head_name")
    door_plate = fields.String(attribute="household.door_plate")
    household_points = fields.Integer(attribute="earned")
    stars = fields.Integer()


class RecommendationMembersSchema(Schema):
    list_id = fields.UUID(attribute="rec.id")
    village_id = fields.UUID(attribute="village.id")
    period = fields.Integer()
    ages_on = fields.Date(attribute="on")
    households = fields.Integer(metadata=_d("Households meeting the household criteria."))
    members = fields.List(fields.Nested(RecommendationMemberSchema), metadata=_d("Points descending, then pinyin of the name."))
    unknown_age = fields.List(fields.Nested(RecommendationMemberSchema), metadata=_d(
        "With an age range: members meeting the rest whose age is unknown (no ID number): check by hand."))


@blp.route("/lists")
class Lists(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, RecommendationListSchema(many=True))
    def get(self):
        """The township's recommendation lists (village admins, township admin)."""
        return recommendations.list_lists(current_actor(), include_inactive=True)

    @blp.doc(security=SECURITY)
    @blp.arguments(RecommendationListSchema)
    @idempotent
    @blp.response(201, RecommendationListSchema)
    def post(self, data):
        """Define a list (township admin)."""
        rec = recommendations.create_list(current_actor(), data)
        return rec


@blp.route("/lists/<uuid:recommendation_list_id>")
class ListDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, RecommendationListSchema)
    def get(self, recommendation_list_id):
        return recommendations.get_list(current_actor(), recommendation_list_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(RecommendationListSchema(partial=True))
    @blp.response(200, RecommendationListSchema)
    def patch(self, data, recommendation_list_id):
        rec = recommendations.update_list(current_actor(), recommendation_list_id, data)
        return rec


@blp.route("/lists/<uuid:recommendation_list_id>/members")
class ListMembers(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RecommendationMembersArgs, location="query")
    @blp.response(200, RecommendationMembersSchema)
    def get(self, args, recommendation_list_id):
        """Members of a village's households meeting the list's criteria, for the village committees' reference."""
        return recommendations.members(current_actor(), recommendation_list_id, args["village_id"], args.get("period"),
                                       masked=args["masked"])


@blp.route("/lists/<uuid:recommendation_list_id>/export")
class ListExport(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RecommendationMembersArgs, location="query")
    @blp.response(200, content_type=XLSX_MIMETYPE, description="The list as an .xlsx workbook")
    def get(self, args, recommendation_list_id):
        data, filename = recommendations.export(current_actor(), recommendation_list_id, args["village_id"],
                                                args.get("period"), masked=args["masked"])
        return xlsx_response(data, filename)


# --- the honour wall's link ------------------------------------------------------------------------------

class HonourWallLinkSchema(Schema):
    village_id = fields.UUID()
    public_url = fields.String(allow_none=True, metadata=_d("The public page (no sign-in); null: no link yet."))
    print_url = fields.String(allow_none=True, metadata=_d("The printable A4 poster."))


class HonourWallRenewSchema(Schema):
    renew = fields.Boolean(load_default=False, metadata=_d("Replace the token: the old link stops working."))


def _link(village_id, found) -> dict:
    if found is None:
        return {"village_id": village_id, "public_url": None, "print_url": None}
    return {"village_id": village_id,
            "public_url": url_for("honours.public_wall", token=found.public_token, _external=True),
            "print_url": url_for("honours.public_wall_print", token=found.public_token, _external=True)}


@blp.route("/wall/villages/<uuid:village_id>")
class WallLink(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, HonourWallLinkSchema)
    def get(self, village_id):
        """The public honour wall's link of a village."""
        return _link(village_id, wall.wall_link(current_actor(), village_id))

    @blp.doc(security=SECURITY)
    @blp.arguments(HonourWallRenewSchema)
    @blp.response(200, HonourWallLinkSchema)
    def post(self, data, village_id):
        """Create the link (village admin, township admin); `renew` replaces it."""
        found = wall.create_link(current_actor(), village_id, renew=data["renew"])
        return _link(village_id, found)
