"""Township pages for villages: list in pinyin order, create, edit."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.roles.authz import villager_only
from jifen.platform.web import current_actor, submit
from jifen.tenants.villages import service

bp = Blueprint("villages", __name__, url_prefix="/t/<tenant_slug>/villages")
register_tile("villages.index", _l("Villages"), "village.list", order=20)


@bp.route("/")
def index():
    actor = current_actor()  # village codes (pinyin) are the staff's keys, not a villager's words
    return render_template("villages/index.html", villages=service.list_villages(actor),
                           show_code=not villager_only(actor))


@bp.route("/new", methods=["GET", "POST"])
def create():
    errors, form = {}, request.form
    if request.method == "POST":
        _village, errors = submit(service.create_village, current_actor(), form.to_dict())
        if not errors:
            return redirect(url_for("villages.index"))
    return render_template("villages/form.html", errors=errors, form=form, village=None), (422 if errors else 200)


@bp.route("/<uuid:village_id>", methods=["GET", "POST"])
def edit(village_id):
    actor, errors = current_actor(), {}
    village = service.get_village(actor, village_id)
    form = request.form if request.method == "POST" else {"name": village.name, "code": village.code,
                                                         "sort_order": village.sort_order}
    if request.method == "POST":
        _village, errors = submit(service.update_village, actor, village_id, form.to_dict())
        if not errors:
            return redirect(url_for("villages.index"))
    return render_template("villages/form.html", errors=errors, form=form, village=village), (422 if errors else 200)
