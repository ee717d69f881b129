"""The household's points pages: home, passbook, civility file; corrections and settings for admins."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from jifen.platform.console import register_tile
from jifen.platform.db import db
from jifen.platform.errors import Invalid, NotFound
from jifen.platform.input import Period, value
from jifen.platform.roles.authz import authorize, may, scope_ids
from jifen.platform.tenancy import tenant_get, tenant_get_or_404
from jifen.platform.web import current_actor, submit
from jifen.tenants.households import service as households
from jifen.tenants.households.models import Household
from jifen.tenants.points import applications, entries, period_close
from jifen.tenants.points.home_panels import panels_for
from jifen.tenants.points.models import CORRECTION, PERIOD_CLOSE, Application, ApplicationPhoto, LedgerTransaction
from jifen.tenants.points.notice_views import application_url
from jifen.tenants.points.workflow import PENDING, STATE_LABELS, item_title
from jifen.tenants.rulebook.models import CommitmentSignature
from jifen.tenants.villages.models import Village

bp = Blueprint("ledger", __name__, url_prefix="/t/<tenant_slug>/ledger")
register_tile("ledger.me", _l("My points"), "inbox.view", order=5)
register_tile("ledger.settings", _l("Points settings"), "points_settings.manage", order=90)
LATEST = 5


def apply_url(household_id, own: bool = True) -> str:
    """The apply form: a villager's own (self-application), or staff applying for the household."""
    tries = ((("points_apply.self_apply", {"household_id": household_id}), ("points_apply.apply", {})) if own
             else (("points_apply.proxy", {"household_id": household_id}),))
    for endpoint, args in tries:
        try:
            return url_for(endpoint, **args)
        except Exception:  # noqa: BLE001,S112 - the endpoint belongs to another module
            continue
    return f"/t/{g.tenant_slug}/points/apply/{household_id}" if own else \
        f"/t/{g.tenant_slug}/points/households/{household_id}/apply"


@bp.context_processor
def _helpers():
    return {"STATE_LABELS": STATE_LABELS, "item_title": item_title, "application_url": application_url,
            "apply_url": apply_url, "may": may, "actor": current_actor(), "CORRECTION": CORRECTION,
            "PERIOD_CLOSE": PERIOD_CLOSE}


def _period() -> int | None:
    """The year asked for in the query string; none (all years) when it is not one."""
    try:
        return value(Period(), request.args.get("period"), "period")
    except Invalid:
        return None


def pending_of(household_id) -> list[Application]:
    return list(db.session.execute(select(Application).where(
        Application.household_id == household_id, Application.state.in_(PENDING))
        .order_by(Application.created_at.desc())).scalars())


def _with_running(rows: list[LedgerTransaction], period: int | None = None) -> list[dict]:
    """Passbook lines, oldest first, with the running earned balance and what a correction corrects.
    With `period`, every row counts towards that year (a close entry of the year before, which
    carried points into it, changes no earned points)."""
    by_id = {tx.id: tx for tx in rows}
    running: dict = {}
    out = []
    for tx in rows:
        key = tx.period if period is None else period
        running[key] = running.get(key, 0) + tx.points
        original = (by_id.get(tx.reverses_id) or tenant_get(LedgerTransaction, tx.reverses_id)) if tx.reverses_id else None
        out.append({"tx": tx, "running": running[key], "original": original})
    return out


def _passbook_of(actor, household_id, period: int) -> tuple[list[dict], dict]:
    """The year's passbook lines, the points carried in from the year before as the opening line,
    and how each year-end close entry reads ({transaction id: period_close.CloseLine})."""
    txs = sorted(entries.passbook(actor, household_id, period), key=lambda tx: tx.period == period)
    return _with_running(txs, period), period_close.passbook_lines(household_id, txs, period)


# --- the villager's landing ---------------------------------------------------------------------

@bp.get("/me")
def me():
    """A villager's own household page (the first household of their villager grants)."""
    own = sorted(scope_ids(current_actor(), "inbox.view", "household") or set(), key=str)
    if not own:
        return redirect(url_for("township.home"))
    return redirect(url_for("ledger.household", household_id=own[0]))


@bp.get("/households/<uuid:household_id>")
def household(household_id):
    actor = current_actor()
    earned, available = entries.balances(actor, household_id)
    hh = tenant_get_or_404(Household, household_id)
    rows, closes = _passbook_of(actor, household_id, entries.current_period())
    latest = list(reversed(rows))[:LATEST]
    return render_template("ledger/household.html", hh=hh, village=tenant_get(Village, hh.village_id),
                           earned=earned, available=available, period=entries.current_period(), latest=latest,
                           closes=closes,
                           pending=pending_of(household_id),
                           may_apply=may(actor, "application.self_apply", hh) or may(actor, "application.proxy", hh),
                           own=may(actor, "application.self_apply", hh),
                           may_inbox=household_id in (scope_ids(actor, "inbox.view", "household") or set()),
                           panels=panels_for(actor, hh))


# --- the passbook -------------------------------------------------------------------------------

@bp.get("/households/<uuid:household_id>/passbook")
def passbook(household_id):
    actor = current_actor()
    period = _period() or entries.current_period()
    earned, available = entries.balances(actor, household_id, period)
    rows, closes = _passbook_of(actor, household_id, period)
    hh = tenant_get_or_404(Household, household_id)
    return render_template("ledger/passbook.html", hh=hh, village=tenant_get(Village, hh.village_id), rows=rows,
                           closes=closes,
                           period=period, periods=entries.periods(actor, household_id), earned=earned,
                           available=available, may_correct=may(actor, "ledger.correct"))


@bp.route("/entries/<uuid:transaction_id>/correct", methods=["GET", "POST"])
def correct(transaction_id):
    """A township admin corrects an entry: a reversing entry with a reason; the original stays."""
    actor = current_actor()
    authorize(actor, "ledger.correct")
    tx = tenant_get_or_404(LedgerTransaction, transaction_id)
    if tx.source_kind in (CORRECTION, PERIOD_CLOSE):
        raise NotFound(_("Not found."))
    errors, form = {}, {}
    if request.method == "POST":
        form = request.form.to_dict()
        _tx, errors = submit(entries.correct_entry, actor, transaction_id, form)
        if not errors:
            return redirect(url_for("ledger.passbook", household_id=tx.household_id, period=tx.period))
    hh = tenant_get_or_404(Household, tx.household_id)
    from jifen.tenants.points import ledger
    return render_template("ledger/correct.html", tx=tx, hh=hh, effective=ledger.effective_points(tx),
                           errors=errors, form=form), 422 if errors else 200


# --- the civility file --------------------------------------------------------------------------

@bp.get("/households/<uuid:household_id>/file")
def civility_file(household_id):
    """户主文明档案袋: the household, its members, entries, evidence and signatures on one page."""
    actor = current_actor()
    rows = _with_running(entries.passbook(actor, household_id))  # authorizes ledger.view
    # the file records conduct: store orders and year-end carries move no earned points ("+0" rows)
    rows = [r for r in rows if r["tx"].points or r["tx"].reverses_id]
    h = households.household_detail(actor, household_id)
    photos = db.session.execute(select(ApplicationPhoto, Application).join(
        Application, Application.id == ApplicationPhoto.application_id).where(
        Application.household_id == household_id).order_by(Application.occurred_on, ApplicationPhoto.sort_order)).all()
    signatures = db.session.execute(select(CommitmentSignature).where(
        CommitmentSignature.household_id == household_id).order_by(CommitmentSignature.signed_on)).scalars().all()
    return render_template("ledger/file.html", h=h, rows=rows, photos=photos, signatures=signatures,
                           totals=_period_totals(rows))


def _period_totals(rows) -> list[tuple[int, int]]:
    totals: dict = {}
    for r in rows:
        totals[r["tx"].period] = totals.get(r["tx"].period, 0) + r["tx"].points
    return sorted(totals.items(), reverse=True)


# --- settings -----------------------------------------------------------------------------------

@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """The township's quorum, notice length and year-end policy (township admin)."""
    actor = current_actor()
    authorize(actor, "points_settings.manage")
    errors = {}
    current = applications.settings()
    form = {"quorum": current.quorum, "notice_days": current.notice_days, "period_end": current.period_end,
            "carry_over_limit": "" if current.carry_over_limit is None else current.carry_over_limit}
    if request.method == "POST":
        form = request.form.to_dict()
        _row, errors = submit(applications.update_settings, actor, form)
        if not errors:
            return redirect(url_for("ledger.settings", saved=1))
    return render_template("ledger/settings.html", form=form, errors=errors), 422 if errors else 200
