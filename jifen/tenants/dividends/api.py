"""Township API: dividend pools, settlement runs (simulate, progress, payouts, approve, public
notice, pay) and the bank payment sheet."""
from __future__ import annotations

from flask import make_response
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from jifen.platform.api import SECURITY, idempotent
from jifen.platform.blueprint import Blueprint
from jifen.platform.input import period, text, whole
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.dividends import pools, settlement, sheets
from jifen.tenants.dividends.models import RUN_STATES
from jifen.tenants.store.models import FUNDING_SOURCES

blp = Blueprint("dividends_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/dividends",
                description="Dividends (积分分红): pools, settlement runs, payment sheet")


def _d(text: str, **more) -> dict:
    return {"description": text, **more}


class RunSchema(Schema):
    id = fields.UUID()
    pool_id = fields.UUID()
    number = fields.Integer(metadata=_d("1, 2, … per pool: each simulation is a new run."))
    state = fields.String(metadata=_d("computing → simulated → approved → published → paid; failed; superseded "
                                      "(replaced by a later simulation).", enum=list(RUN_STATES)))
    households = fields.Integer(metadata=_d("Eligible households."))
    earned_total = fields.Integer(metadata=_d("Their earned points in the period."))
    equal_weights = fields.Boolean(metadata=_d("Nobody eligible earned points: everything is shared equally."))
    chunks_total = fields.Integer()
    chunks_done = fields.Method("_done", metadata=_d("Chunks computed so far.", type="integer"))
    stalled = fields.Method("_stalled", metadata=_d("Computing with no progress for a minute: resume it.",
                                                    type="boolean"))
    amount_fen = fields.Integer(metadata=_d("The pool as simulated, in fen."))
    total_fen = fields.Integer(allow_none=True, metadata=_d("Sum of the payouts (equals amount_fen)."))
    min_fen = fields.Integer(allow_none=True)
    max_fen = fields.Integer(allow_none=True)
    leftover_fen = fields.Integer(allow_none=True, metadata=_d("Fen handed out one each by largest remainder."))
    error = fields.String()
    started_by_name = fields.String()
    started_at = fields.DateTime()
    computed_at = fields.DateTime(allow_none=True)
    approved_by_name = fields.String()
    approved_at = fields.DateTime(allow_none=True)
    notice_opens_on = fields.Date(allow_none=True)
    notice_closes_on = fields.Date(allow_none=True)
    notice_token = fields.String(allow_none=True, metadata=_d("Public page: /t/{slug}/dividends/public/{token}."))
    paid_by_name = fields.String()
    paid_at = fields.DateTime(allow_none=True)
    payment_reference = fields.String()

    def _done(self, run):
        return settlement.progress(run).done

    def _stalled(self, run):
        return settlement.progress(run).stalled


class PoolSchema(Schema):
    id = fields.UUID(dump_only=True)
    title = text(pools.MAX_TITLE, required=True, metadata=_d(
        f"e.g. 2026年度官田村积分分红 (at most {pools.MAX_TITLE} characters)."))
    village_id = fields.UUID(allow_none=True, metadata=_d(
        "The village whose households share it; null: the whole township (township admin only). 409 naming it "
        "for a village outside your area, or an id naming no village of the township."))
    amount = fields.String(required=True, load_only=True, validate=validate.Regexp(
        pools.AMOUNT_PATTERN, error=_l("Enter the amount in yuan with at most two decimals, e.g. 20000.00.")),
        metadata=_d(f"Yuan, at most two decimals, above zero and at most {pools.MAX_AMOUNT_FEN // 100}, "
                    "e.g. \"20000.00\"; kept as integer fen."))
    amount_fen = fields.Integer(dump_only=True)
    source = fields.String(required=True, validate=validate.OneOf(FUNDING_SOURCES),
                           metadata=_d("Where the money comes from."))
    period = period(required=True, metadata=_d(
        "The year whose earned points count; a year not yet begun is refused (409 naming it)."))
    min_points = whole(0, pools.MAX_MIN_POINTS, load_default=0, metadata=_d(
        "Households need at least this many earned points."))
    veto_codes = fields.List(fields.String(), load_default=list, validate=validate.Length(max=pools.MAX_VETO_CODES),
                             metadata=_d("Deduction item codes: a deduction of one of them in the period makes a "
                                         "household ineligible. A code no deduction item of the rulebook has is "
                                         "refused (409 naming veto_codes)."))
    base_percent = whole(0, pools.MAX_BASE_PERCENT, required=True, metadata=_d(
        "Percent of the pool shared equally among eligible households (0-100); the rest goes by earned points."))
    note = text(pools.MAX_NOTE, load_default="")
    created_by_name = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    run = fields.Method("_run", dump_only=True, allow_none=True, metadata=_d(
        "The current run (settled, else the newest), or null.", type="object"))

    def _run(self, pool):
        run = settlement.current_run(pool.id)
        return RunSchema().dump(run) if run is not None else None


class PoolListArgs(Schema):
    period = fields.Integer(metadata=_d("Only this year's pools."))


class PayoutArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    village_id = fields.UUID(metadata=_d("Only this village's households (township pools)."))


class PayoutSchema(Schema):
    household_id = fields.UUID(attribute="payout.household_id")
    village_id = fields.UUID(attribute="payout.village_id")
    door_plate = fields.String(attribute="household.door_plate")
    head_name = fields.String(attribute="household.head_name")
    earned = fields.Integer(attribute="payout.earned", metadata=_d("Earned points of the period."))
    amount_fen = fields.Integer(attribute="payout.amount_fen")
    leftover_fen = fields.Method("_bonus", metadata=_d("1 if the household got a leftover fen (largest remainder), "
                                                       "else 0.", type="integer"))

    def _bonus(self, row):
        return int(row.payout.bonus)


class PayoutPageSchema(Schema):
    items = fields.List(fields.Nested(PayoutSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()


class DistributionSchema(Schema):
    from_fen = fields.Integer()
    to_fen = fields.Integer()
    households = fields.Integer()


class RunDetailSchema(RunSchema):
    distribution = fields.Method("_distribution", metadata=_d("Households per band of amounts (when computed).",
                                                              type="array"))

    def _distribution(self, run):
        return [{"from_fen": a, "to_fen": b, "households": n} for a, b, n in settlement.distribution(run)]


class PaySchema(Schema):
    payment_reference = text(settlement.MAX_REFERENCE, required=True, metadata=_d(
        f"The bank's reference of the payment (at most {settlement.MAX_REFERENCE} characters)."))


@blp.route("/pools/")
class Pools(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PoolListArgs, location="query")
    @blp.response(200, PoolSchema(many=True))
    def get(self, args):
        """Pools you may see (township pools: township admin), newest period first."""
        return pools.list_pools(current_actor(), args.get("period"))

    @blp.doc(security=SECURITY)
    @blp.arguments(PoolSchema)
    @idempotent
    @blp.response(201, PoolSchema)
    def post(self, data):
        """Set up a pool (township admin: township or any village; village admin: their village)."""
        return pools.create_pool(current_actor(), data)


@blp.route("/pools/<uuid:dividend_pool_id>")
class PoolDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, PoolSchema)
    def get(self, dividend_pool_id):
        return pools.get_pool(current_actor(), dividend_pool_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(PoolSchema(partial=True))
    @blp.response(200, PoolSchema)
    def patch(self, data, dividend_pool_id):
        """Change a pool until a run is approved (409 after); a simulation made before must be made again."""
        return pools.update_pool(current_actor(), dividend_pool_id, data)

    @blp.doc(security=SECURITY)
    @blp.response(204)
    def delete(self, dividend_pool_id):
        """Remove a pool and its simulations (not once a run is approved: 409)."""
        pools.delete_pool(current_actor(), dividend_pool_id)


@blp.route("/pools/<uuid:dividend_pool_id>/simulate")
class Simulate(MethodView):
    @blp.doc(security=SECURITY)
    @idempotent
    @blp.response(202, RunSchema)
    def post(self, dividend_pool_id):
        """Start a simulation: the workers compute every eligible household's amount in chunks; poll the run
        for progress. Replaces an unapproved earlier run; 409 once a run is approved, and 409 naming min_points
        when no household is eligible."""
        return settlement.simulate(current_actor(), dividend_pool_id)


@blp.route("/runs/<uuid:dividend_run_id>")
class RunDetail(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, RunDetailSchema)
    def get(self, dividend_run_id):
        """A run: state, progress (chunks done of total), totals, min/max and the distribution."""
        return settlement.get_run(current_actor(), dividend_run_id)


@blp.route("/runs/<uuid:dividend_run_id>/payouts")
class Payouts(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PayoutArgs, location="query")
    @blp.response(200, PayoutPageSchema)
    def get(self, args, dividend_run_id):
        """One page of a run's payouts, by village and door plate."""
        run = settlement.get_run(current_actor(), dividend_run_id)
        return settlement.payouts(run, args["page"], args["per_page"], args.get("village_id"))


@blp.route("/runs/<uuid:dividend_run_id>/resume")
class Resume(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(202, RunSchema)
    def post(self, dividend_run_id):
        """Hand a computing run back to the workers (its worker died); done chunks stay done. 409 if not computing."""
        return settlement.resume(current_actor(), dividend_run_id)


@blp.route("/runs/<uuid:dividend_run_id>/approve")
class Approve(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, RunSchema)
    def post(self, dividend_run_id):
        """Township admin: freeze a simulated run's amounts. 409 naming `state` from any other state."""
        return settlement.approve(current_actor(), dividend_run_id)


@blp.route("/runs/<uuid:dividend_run_id>/publish")
class Publish(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, RunSchema)
    def post(self, dividend_run_id):
        """Township admin: put an approved run's list on public notice for the township's notice period."""
        return settlement.publish(current_actor(), dividend_run_id)


@blp.route("/runs/<uuid:dividend_run_id>/pay")
class Pay(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PaySchema)
    @idempotent
    @blp.response(200, RunSchema)
    def post(self, data, dividend_run_id):
        """Township admin: record the bank's payment of a published run. A second payment is 409."""
        return settlement.mark_paid(current_actor(), dividend_run_id, data)


@blp.route("/runs/<uuid:dividend_run_id>/sheet")
class Sheet(MethodView):
    @blp.doc(security=SECURITY, responses={"200": {"description": "The bank payment sheet (xlsx)", "content": {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
    def get(self, dividend_run_id):
        """Township admin: the bank payment sheet of an approved (or later) run, as xlsx."""
        data, filename = sheets.payment_sheet(current_actor(), dividend_run_id)
        response = make_response(data)
        response.headers["Content-Type"] = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
