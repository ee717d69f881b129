"""Township pages for staff: list (pinyin order), invite with roles, edit roles, disable/enable."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.roles.registry import SCOPE_KINDS
from jifen.platform.staff import service
from jifen.platform.townships.links import setup_url
from jifen.platform.web import current_actor, submit

bp = Blueprint("staff", __name__, url_prefix="/t/<tenant_slug>/staff")
register_tile("staff.index", _l("Staff and roles"), "staff.list", order=10)


def scope_choices() -> dict[str, list | None]:
    """For each registered scope kind, (id, label) pairs to pick from; None: not picked here."""
    return {kind.name: kind.choices() if kind.choices else None for kind in SCOPE_KINDS.values()}


def roles_from_form(form) -> list[dict]:
    """Checkbox `role` (many) and, per role, select `scope_<role>` (many)."""
    return [{"role": r, "scope_ids": form.getlist(f"scope_{r}")} for r in form.getlist("role")]


def _roles_page(template: str, **ctx):
    return render_template(template, SCOPE_KINDS=SCOPE_KINDS, choices=scope_choices(), **ctx)


@bp.route("/")
def index():
    actor = current_actor()
    users = service.list_staff(actor)
    return render_template("staff/index.html", users=users, roles=service.roles_of([u.id for u in users]))


@bp.route("/new", methods=["GET", "POST"])
def invite():
    errors, form = {}, request.form
    if request.method == "POST":
        invited, errors = submit(service.invite, current_actor(), form.to_dict() | {"roles": roles_from_form(form)})
        if not errors:
            user, secret = invited
            return render_template("staff/invited.html", user=user,
                                   link=setup_url(g.tenant_slug, secret))
    return _roles_page("staff/invite.html", errors=errors, form=form,
                       current={r: form.getlist(f"scope_{r}") for r in form.getlist("role")}), (
        422 if errors else 200)


@bp.route("/<uuid:user_id>", methods=["GET", "POST"])
def detail(user_id):
    actor, errors = current_actor(), {}
    user = service.get_staff(actor, user_id)
    if request.method == "POST":
        _user, errors = submit(service.set_roles, actor, user_id, roles_from_form(request.form))
        if not errors:
            return redirect(url_for("staff.detail", user_id=user_id, saved=1))
    current = {r["role"]: [str(i) for i in r["scope_ids"]] for r in service.roles_of([user.id]).get(user.id, [])}
    return _roles_page("staff/detail.html", user=user, errors=errors, current=current), (422 if errors else 200)


@bp.post("/<uuid:user_id>/disable")
def disable(user_id):
    service.disable(current_actor(), user_id)
    return redirect(url_for("staff.detail", user_id=user_id))


@bp.post("/<uuid:user_id>/enable")
def enable(user_id):
    service.enable(current_actor(), user_id)
    return redirect(url_for("staff.detail", user_id=user_id))


@bp.post("/<uuid:user_id>/setup-link")
def new_setup_link(user_id):
    user, secret = service.new_setup_link(current_actor(), user_id)
    return render_template("staff/invited.html", user=user, again=True,
                           link=setup_url(g.tenant_slug, secret))
