"""Fund coverage pages: the latest night's coverage per scope, a scope's history, the funding
records (with reversal), the form to record money and the settings form (township admin)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform import clock
from jifen.platform.console import register_tile
from jifen.platform.db import parse_uuid
from jifen.platform.page_once import new_key, once
from jifen.platform.roles.authz import authorize, may
from jifen.platform.web import current_actor, submit
from jifen.tenants.dividends.pools import yuan_plain
from jifen.tenants.funds import service
from jifen.tenants.funds.models import KINDS
from jifen.tenants.villages.scopes import village_choices

bp = Blueprint("funds", __name__, url_prefix="/t/<tenant_slug>/funds")
register_tile("funds.index", _l("Fund coverage"), "funds.view", order=72)


@bp.context_processor
def _helpers():
    return {"money": service.yuan_sign, "KIND_LABELS": service.KIND_LABELS, "KINDS": KINDS}


@bp.app_context_processor
def _panel_source():
    """`funds/_panel.html` works when a dashboard just includes it: it asks this for the signed-in
    actor's summary unless the page passed `funds_summary` itself."""
    return {"funds_coverage_summary": lambda: service.coverage_summary(current_actor())}


def _page(record_errors=None, record_form=None, settings_errors=None, settings_form=None, reverse_errors=None,
          status=200):
    actor = current_actor()
    rows = service.coverage_now(actor)
    names = dict(village_choices())
    wanted = parse_uuid(request.args.get("village_id"))
    scope_rows = {r.village_id: r for r in rows}
    history_scope = wanted if wanted in scope_rows else (rows[0].village_id if rows else None)
    history = service.coverage_history(actor, history_scope) if rows else []
    records = service.list_records(actor)
    manage = may(actor, "funds.manage")
    settings = service.get_settings(actor)
    if settings_form is None:
        value = settings["point_value_fen"]
        settings_form = {"point_value": yuan_plain(value) if value else "",
                         "coverage_warn_pct": str(settings["coverage_warn_pct"])}
    return render_template(
        "funds/index.html", rows=rows, names=names, history=history, history_scope=history_scope,
        records=records, reversed_ids=service.reversed_ids(records), manage=manage, settings=settings,
        stores=service.store_choices(actor) if manage else [], store_names=dict(service.store_choices(actor)),
        record_errors=record_errors or {}, record_form=record_form or {"received_on": clock.today().isoformat()},
        settings_errors=settings_errors or {}, settings_form=settings_form, reverse_errors=reverse_errors or {},
        once_key=new_key(), today=clock.today().isoformat(), computed=service.latest_day() is not None), status


@bp.get("/")
def index():
    return _page()


@bp.post("/records")
def add_record():
    actor = current_actor()
    authorize(actor, "funds.manage")

    def work():
        data = {k: request.form.get(k, "") for k in ("kind", "amount", "received_on", "store_id", "note")}
        _r, errors = submit(service.add_record, actor, data)
        if errors:
            return _page(record_errors=errors, record_form=request.form, status=422)
        return redirect(url_for("funds.index") + "#records", 303)
    return once(work)


@bp.post("/records/<uuid:fund_record_id>/reverse")
def reverse_record(fund_record_id):
    actor = current_actor()
    _r, errors = submit(service.reverse_record, actor, fund_record_id, {"reason": request.form.get("reason", "")})
    if errors:
        return _page(reverse_errors={str(fund_record_id): sum(errors.values(), [])}, status=422)
    return redirect(url_for("funds.index") + "#records", 303)


@bp.post("/settings")
def update_settings():
    actor = current_actor()
    data = {k: request.form.get(k, "") for k in ("point_value", "coverage_warn_pct")}
    _s, errors = submit(service.update_settings, actor, data)
    if errors:
        return _page(settings_errors=errors, settings_form=request.form, status=422)
    return redirect(url_for("funds.index") + "#settings", 303)
