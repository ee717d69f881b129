"""Integrity signal pages: the list (filters in the URL) and one signal with its review form."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.web import current_actor, submit
from jifen.tenants.integrity import service
from jifen.tenants.integrity.models import KINDS, STATUSES

bp = Blueprint("integrity", __name__, url_prefix="/t/<tenant_slug>/integrity")
register_tile("integrity.index", _l("Integrity signals"), "integrity.list", order=95)


@bp.get("/")
def index():
    actor = current_actor()
    filters = service.filters_from(request.args)
    signals = service.list_signals(actor, filters)
    return render_template("integrity/index.html", rows=service.explained(signals), filters=filters,
                           villages=service.village_choices(actor), kinds=KINDS, statuses=STATUSES,
                           KIND_LABELS=service.KIND_LABELS, STATUS_LABELS=service.STATUS_LABELS,
                           rules=service.rules(), village_names=dict(service.village_choices(actor)))


def _detail(signal_id, errors=None, form=None, status=200):
    actor = current_actor()
    signal = service.get_signal(actor, signal_id)
    return render_template("integrity/detail.html", signal=signal, text=service.explain(signal),
                           links=service.links(actor, signal), village=service.village_name(signal),
                           rule=service.rules().get(signal.kind, ""), may_review=service.may_review(actor, signal),
                           errors=errors or {}, form=form or {}, KIND_LABELS=service.KIND_LABELS,
                           STATUS_LABELS=service.STATUS_LABELS), status


@bp.get("/<uuid:signal_id>")
def detail(signal_id):
    return _detail(signal_id)


@bp.post("/<uuid:signal_id>/review")
def review(signal_id):
    _s, errors = submit(service.review, current_actor(), signal_id, request.form.to_dict())
    if errors:
        return _detail(signal_id, errors, request.form.to_dict(), 422)
    return redirect(url_for("integrity.detail", signal_id=signal_id))
