"""Period close: pages. Every year of the township with its totals and its close; a township admin
closes a past year by hand after a confirmation (the daily job does it on January 1 otherwise)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.page_once import new_key, once
from jifen.platform.roles.authz import authorize, may
from jifen.platform.web import current_actor, submit
from jifen.tenants.points import period_close
from jifen.tenants.points.applications import settings
from jifen.tenants.points.period_links import year_url

bp = Blueprint("periods", __name__, url_prefix="/t/<tenant_slug>/periods")
register_tile("periods.index", _l("Periods"), "period.view", order=88)

STATUS_LABELS = {
    period_close.OPEN: _l("Current year"),
    period_close.UNCLOSED: _l("Not closed yet"),
    "running": _l("Closing…"),
    "done": _l("Closed"),
}
POLICY_LABELS = {"carry_over": _l("carry over"), "expire": _l("expire")}


@bp.context_processor
def _helpers():
    return {"STATUS_LABELS": STATUS_LABELS, "POLICY_LABELS": POLICY_LABELS, "year_url": year_url}


@bp.get("/")
def index():
    actor = current_actor()
    periods = period_close.summaries(actor)
    return render_template("periods/index.html", periods=periods, policy=settings(),
                           may_close=may(actor, "period.close"),
                           may_settings=may(actor, "points_settings.manage"),
                           closed=request.args.get("closed", type=int))


def _confirm(period_value, errors=None, status=200):
    actor = current_actor()
    preview = None
    if not errors:
        preview = period_close.preview(actor, period_value)
    return render_template("periods/confirm.html", preview=preview, errors=errors or {}, period=period_value,
                           once_key=new_key()), status


@bp.get("/close")
def confirm():
    """What closing a past year will do, and the button that does it (township admin)."""
    authorize(current_actor(), "period.close")
    return _confirm(request.args.get("period", ""))


@bp.post("/close")
def close():
    actor = current_actor()
    authorize(actor, "period.close")
    form = request.form.to_dict()

    def work():
        pc, errors = submit(period_close.request_close, actor, form)
        if errors:
            return _confirm(form.get("period", ""), errors, 422)
        return redirect(url_for("periods.index", closed=pc.period, _anchor=f"p-{pc.period}"), 303)

    return once(work)
