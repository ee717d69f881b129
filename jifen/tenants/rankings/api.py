"""Township API: Rankings — the nightly snapshots, a scope's ranking, a household's ranks.

A ranking is answered from one snapshot: `date` picks the last snapshot taken on or before that
day, `period` the last one of that year, neither the latest. With no snapshot (nothing ranked
yet) the answer is 200 with `snapshot: null` and no items.
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.rankings import service
from jifen.tenants.rankings.models import SCOPES

blp = Blueprint("rankings_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/rankings", description="Rankings")


def _d(text: str, **more) -> dict:
    return {"description": text, **more}


class SnapshotSchema(Schema):
    taken_on = fields.Date(metadata=_d("The night's local date."))
    period = fields.Integer(metadata=_d("The year whose earned points were ranked."))
    previous_on = fields.Date(allow_none=True, metadata=_d("The snapshot movement is measured against (same "
                                                           "period); null for the period's first."))
    households = fields.Integer(metadata=_d("Active households ranked in the township."))


class SnapshotArgs(Schema):
    period = fields.Integer(validate=validate.Range(min=2000, max=2200), metadata=_d("Only this year's snapshots."))


class RankingArgs(Schema):
    date = fields.Date(metadata=_d("The last snapshot taken on or before this day."))
    period = fields.Integer(validate=validate.Range(min=2000, max=2200),
                            metadata=_d("The last snapshot of this year (e.g. a closed year's final ranking)."))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=service.MAX_PER_PAGE))


class ScopeSchema(Schema):
    kind = fields.String(metadata=_d("township, village or grid", enum=["township", "village", "grid"]))
    id = fields.UUID(allow_none=True, metadata=_d("The village or grid node; null for the township."))
    name = fields.String()
    level = fields.Integer(allow_none=True, metadata=_d("Grid level 1 (large) … 4 (micro); null otherwise."))


class RankingRowSchema(Schema):
    rank = fields.Integer(metadata=_d("Ties share a rank (1, 2, 2, 4)."))
    previous_rank = fields.Integer(allow_none=True, metadata=_d("Rank in this scope in the previous snapshot."))
    movement = fields.Integer(allow_none=True, metadata=_d("previous_rank - rank: 3 means up three places; null "
                                                           "when there is nothing to compare."))
    new = fields.Boolean(attribute="is_new", metadata=_d("Not ranked in this scope in the previous snapshot."))
    household_id = fields.UUID(allow_none=True, metadata=_d("Null for other households when names are masked."))
    head_name = fields.String(metadata=_d("Masked (张*伟) for other households when the caller is a villager."))
    door_plate = fields.String()
    village_name = fields.String(metadata=_d("The household's village at the snapshot."))
    earned = fields.Integer(metadata=_d("Earned points of the period at the snapshot."))
    own = fields.Boolean(metadata=_d("The caller's own household."))


class RankingPageSchema(Schema):
    scope = fields.Nested(ScopeSchema)
    snapshot = fields.Nested(SnapshotSchema, allow_none=True)
    names_masked = fields.Boolean(metadata=_d("Other households' names are masked for this caller."))
    items = fields.List(fields.Nested(RankingRowSchema))
    own = fields.List(fields.Nested(RankingRowSchema), metadata=_d("The caller's own households' rows (villagers), "
                                                                    "wherever they are in the list."))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()


class ScopeRankSchema(Schema):
    scope = fields.String(metadata=_d("village, grid1 … grid4 (large … micro) or township", enum=list(SCOPES)))
    scope_id = fields.UUID(allow_none=True)
    name = fields.String()
    level = fields.Integer(allow_none=True)
    rank = fields.Integer()
    of = fields.Integer(metadata=_d("Households ranked in the scope."))
    previous_rank = fields.Integer(allow_none=True)
    movement = fields.Integer(allow_none=True)
    new = fields.Boolean(attribute="is_new")


class HouseholdRanksSchema(Schema):
    household_id = fields.UUID()
    snapshot = fields.Nested(SnapshotSchema, allow_none=True)
    earned = fields.Integer(allow_none=True, metadata=_d("Null: the household was not ranked in this snapshot."))
    ranks = fields.List(fields.Nested(ScopeRankSchema))


def _page(result) -> dict:
    t = result.target
    return {"scope": {"kind": t.kind, "id": t.id, "name": t.name, "level": t.level}, "snapshot": result.snapshot,
            "names_masked": not result.full_names, "items": result.page.items, "own": result.own,
            "total": result.page.total, "page": result.page.page, "per_page": result.page.per_page,
            "pages": result.page.pages}


def _kwargs(args: dict) -> dict:
    return {"day": args.get("date"), "period": args.get("period"), "page": args["page"], "per_page": args["per_page"]}


@blp.route("/snapshots")
class Snapshots(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(SnapshotArgs, location="query")
    @blp.response(200, SnapshotSchema(many=True))
    def get(self, args):
        """The nightly snapshots kept (newest first): the last 7 days, and the last of each month and year."""
        return service.list_snapshots(current_actor(), args.get("period"))


@blp.route("/township")
class Township(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RankingArgs, location="query")
    @blp.response(200, RankingPageSchema)
    def get(self, args):
        """The whole township's ranking (township-wide roles)."""
        return _page(service.township_ranking(current_actor(), **_kwargs(args)))


@blp.route("/villages/<uuid:village_id>")
class VillageRanking(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RankingArgs, location="query")
    @blp.response(200, RankingPageSchema)
    def get(self, args, village_id):
        """A village's ranking: staff of the village; a villager their own village, other names masked."""
        return _page(service.village_ranking(current_actor(), village_id, **_kwargs(args)))


@blp.route("/grid-nodes/<uuid:grid_node_id>")
class GridRanking(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RankingArgs, location="query")
    @blp.response(200, RankingPageSchema)
    def get(self, args, grid_node_id):
        """A grid node's ranking (any level): staff whose area contains the node."""
        return _page(service.grid_ranking(current_actor(), grid_node_id, **_kwargs(args)))


class HouseholdArgs(Schema):
    date = fields.Date(metadata=_d("The last snapshot taken on or before this day."))
    period = fields.Integer(validate=validate.Range(min=2000, max=2200), metadata=_d("The last snapshot of this year."))


@blp.route("/households/<uuid:household_id>")
class HouseholdRanks(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(HouseholdArgs, location="query")
    @blp.response(200, HouseholdRanksSchema)
    def get(self, args, household_id):
        """A household's rank in its village, each grid level above it and the township, with movement."""
        found = service.household_ranks(current_actor(), household_id, day=args.get("date"), period=args.get("period"))
        return {"household_id": found.household.id, "snapshot": found.snapshot, "earned": found.earned,
                "ranks": found.ranks}
