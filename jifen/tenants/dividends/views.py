"""Dividend pages: pools, a pool's settlement run (progress, preview, approve, notice, pay), the
payment sheet, and the public notice of the dividend list (printable A4)."""
from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform import clock
from jifen.platform.console import register_tile
from jifen.platform.db import parse_uuid
from jifen.platform.errors import NotFound
from jifen.platform.page_once import new_key, once
from jifen.platform.paging import Page
from jifen.platform.roles.authz import authorize, may
from jifen.platform.tenancy import tenant_get
from jifen.platform.web import current_actor, public, submit
from jifen.tenants.dividends import pools, settlement, sheets
from jifen.tenants.dividends.models import COMPUTING, SETTLED, DividendRun
from jifen.tenants.households.rules import mask_name
from jifen.tenants.villages.models import Village
from jifen.tenants.villages.scopes import village_choices

bp = Blueprint("dividends", __name__, url_prefix="/t/<tenant_slug>/dividends")
register_tile("dividends.index", _l("Dividends"), "dividend.view", order=70)
PER_PAGE = 50
PUBLIC_PER_PAGE = 200
REFRESH_SECONDS = 2


def local_time(moment) -> str:
    """A stored UTC time as the township's clock shows it."""
    if moment is None:
        return ""
    return moment.astimezone(clock.zone()).strftime("%Y-%m-%d %H:%M")


@bp.context_processor
def _helpers():
    return {"yuan": pools.yuan, "masked": mask_name, "STATE_LABELS": settlement.STATE_LABELS,
            "SOURCE_LABELS": pools.SOURCE_LABELS, "local_time": local_time}


def _village_names() -> dict:
    return dict(village_choices())


# --- pools -------------------------------------------------------------------------------------

@bp.get("/")
def index():
    actor = current_actor()
    found = pools.list_pools(actor)
    runs = {p.id: settlement.current_run(p.id) for p in found}
    choices = pools.choices(actor) if may(actor, "dividend.manage") else None
    return render_template("dividends/index.html", pools=found, runs=runs, village_names=_village_names(),
                           may_create=bool(choices and (choices.villages or choices.township)))


def _form(pool, errors, form, status=200):
    actor = current_actor()
    return render_template("dividends/form.html", pool=pool, errors=errors, form=form, choices=pools.choices(actor),
                           once_key=new_key(), this_year=clock.today().year), status


def _form_data() -> dict:
    data = request.form.to_dict()
    data["veto_codes"] = request.form.getlist("veto_codes")
    data.pop("once", None)
    data.pop("csrf_token", None)
    return data


@bp.route("/new", methods=["GET", "POST"])
def create():
    actor = current_actor()
    authorize(actor, "dividend.manage")
    if request.method == "POST":
        def work():
            pool, errors = submit(pools.create_pool, actor, _form_data())
            if errors:
                return _form(None, errors, request.form, 422)
            return redirect(url_for("dividends.detail", dividend_pool_id=pool.id), 303)
        return once(work)
    choices = pools.choices(actor)
    default_village = "" if choices.township or not choices.villages else str(choices.villages[0][0])
    return _form(None, {}, {"period": str(clock.today().year), "base_percent": "30", "min_points": "0",
                            "source": "collective_income", "village_id": default_village})


@bp.route("/<uuid:dividend_pool_id>/edit", methods=["GET", "POST"])
def edit(dividend_pool_id):
    actor = current_actor()
    pool = pools.pool_in_scope(actor, "dividend.manage", dividend_pool_id)
    if request.method == "POST":
        _p, errors = submit(pools.update_pool, actor, dividend_pool_id, _form_data())
        if errors:
            return _form(pool, errors, request.form, 422)
        return redirect(url_for("dividends.detail", dividend_pool_id=dividend_pool_id), 303)
    pools.check_editable(pool)
    return _form(pool, {}, {"title": pool.title, "village_id": str(pool.village_id or ""),
                            "amount": pools.yuan_plain(pool.amount_fen), "source": pool.source,
                            "period": str(pool.period), "min_points": str(pool.min_points),
                            "base_percent": str(pool.base_percent), "note": pool.note,
                            "veto_codes": list(pool.veto_codes or [])})


@bp.post("/<uuid:dividend_pool_id>/delete")
def delete(dividend_pool_id):
    submit(pools.delete_pool, current_actor(), dividend_pool_id)
    return redirect(url_for("dividends.index"), 303)


# --- a pool and its run ----------------------------------------------------------------------------

def _detail(pool_id, errors=None, status=200):
    actor = current_actor()
    pool = pools.get_pool(actor, pool_id)
    run = settlement.current_run(pool.id)
    ctx = {"pool": pool, "run": run, "errors": errors or {}, "village_names": _village_names(),
           "history": [r for r in settlement.runs_of(pool.id) if r is not run],
           "may_manage": may(actor, "dividend.manage", pool) and (run is None or run.state not in SETTLED),
           "may_simulate": may(actor, "dividend.simulate", pool) and (run is None or run.state not in SETTLED),
           "may_approve": may(actor, "dividend.approve", pool), "may_pay": may(actor, "dividend.pay", pool),
           "deduction_titles": dict(pools.deduction_codes())}
    headers = {}
    if run is not None:
        ctx["progress"] = settlement.progress(run)
        ctx["changed"] = settlement.pool_changed(pool, run)
        if run.state == COMPUTING:
            headers["Refresh"] = str(REFRESH_SECONDS)  # the progress bar moves without a tap
        if run.total_fen is not None:
            village_id = parse_uuid(request.args.get("village_id")) if request.args.get("village_id") else None
            ctx.update(formula=settlement.formula(run), distribution=settlement.distribution(run),
                       page=settlement.payouts(run, request.args.get("page", 1, type=int), PER_PAGE, village_id),
                       by_village=settlement.payout_villages(run), village_filter=village_id)
            ctx["widest"] = max((n for _a, _b, n in ctx["distribution"]), default=0)
    response = make_response(render_template("dividends/detail.html", **ctx), status)
    response.headers.update(headers)
    return response


@bp.get("/<uuid:dividend_pool_id>")
def detail(dividend_pool_id):
    return _detail(dividend_pool_id)


def _pool_url(run_id) -> str:
    run = tenant_get(DividendRun, run_id)
    return url_for("dividends.detail", dividend_pool_id=run.pool_id)


@bp.post("/<uuid:dividend_pool_id>/simulate")
def simulate(dividend_pool_id):
    _run, errors = submit(settlement.simulate, current_actor(), dividend_pool_id)
    if errors:
        return _detail(dividend_pool_id, errors, 422)
    return redirect(url_for("dividends.detail", dividend_pool_id=dividend_pool_id), 303)


def _run_step(run_id, service_call, *args):
    run = tenant_get(DividendRun, run_id)
    _r, errors = submit(service_call, current_actor(), run_id, *args)
    if errors:
        return _detail(run.pool_id, errors, 422)
    return redirect(url_for("dividends.detail", dividend_pool_id=run.pool_id) + "#run", 303)


@bp.post("/runs/<uuid:dividend_run_id>/resume")
def resume(dividend_run_id):
    return _run_step(dividend_run_id, settlement.resume)


@bp.post("/runs/<uuid:dividend_run_id>/approve")
def approve(dividend_run_id):
    return _run_step(dividend_run_id, settlement.approve)


@bp.post("/runs/<uuid:dividend_run_id>/publish")
def publish(dividend_run_id):
    return _run_step(dividend_run_id, settlement.publish)


@bp.post("/runs/<uuid:dividend_run_id>/pay")
def pay(dividend_run_id):
    return _run_step(dividend_run_id, settlement.mark_paid, {"payment_reference": request.form.get("payment_reference")})


@bp.get("/runs/<uuid:dividend_run_id>/sheet.xlsx")
def sheet(dividend_run_id):
    data, filename = sheets.payment_sheet(current_actor(), dividend_run_id)
    response = make_response(data)
    response.headers["Content-Type"] = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- the public notice -------------------------------------------------------------------------------

def _public_context(token, printing: bool = False) -> dict:
    run = settlement.run_by_token(token)
    pool = settlement.pool_of(run)
    village_id = parse_uuid(request.args.get("village_id")) if request.args.get("village_id") else None
    if village_id is not None and tenant_get(Village, village_id) is None:
        raise NotFound("")
    if printing:  # the whole list (of one village, for a township pool printed per village board)
        rows = settlement.all_payouts(run, village_id)
        page = Page(rows, len(rows), 1, max(len(rows), 1))
    else:
        page = settlement.payouts(run, request.args.get("page", 1, type=int), PUBLIC_PER_PAGE, village_id)
    names = _village_names()
    return {"run": run, "pool": pool, "page": page, "token": token, "open": settlement.notice_open(run),
            "formula": settlement.formula(run), "village_names": names, "village_filter": village_id,
            "village": tenant_get(Village, village_id or pool.village_id) if (village_id or pool.village_id) else None,
            "by_village": settlement.payout_villages(run), "deduction_titles": dict(pools.deduction_codes())}


@bp.get("/public/<token>")
@public
def public_notice(token):
    """Anyone with the link: the dividend list, names masked (张*伟)."""
    return render_template("dividends/public.html", **_public_context(token))


@bp.get("/public/<token>/print")
@public
def public_print(token):
    """The A4 sheet for the notice board, with signature lines."""
    return render_template("dividends/print.html", **_public_context(token, printing=True))
