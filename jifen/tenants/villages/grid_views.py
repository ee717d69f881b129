"""Township pages for the grid tree, its level names and village groups."""
from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.db import db
from jifen.platform.errors import Conflict
from jifen.platform.roles.authz import authorize, may
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import tenant_get_or_404
from jifen.platform.web import current_actor, submit
from jifen.tenants.villages import grid
from jifen.tenants.villages import service as villages
from jifen.tenants.villages.models import LEVELS, Village

bp = Blueprint("grid", __name__, url_prefix="/t/<tenant_slug>/grid")
bp.add_app_template_global(grid.level_name, "grid_level_name")
register_tile("grid.index", _l("Grid"), "grid.view", order=25)

NODE_FIELDS = ("name", "sort_order", "village_id", "group_id")
# The tree opens down to the small grids (their micro grids one tap away) unless the whole township's
# tree is this long: then only the large grids open, and picking a village opens it further.
OPEN_DEEP_UP_TO = 60


@bp.get("/")
def index():
    actor = current_actor()
    village_id = request.args.get("village") or None
    rows = grid.describe(grid.list_tree(actor, village_id, include_retired=bool(request.args.get("retired"))))
    shown = {row["node"].id for row in rows}
    kids = defaultdict(list)
    for row in rows:
        kids[row["node"].parent_id if row["node"].parent_id in shown else None].append(row)
    open_through = 2 if village_id or len(rows) <= OPEN_DEEP_UP_TO else 1
    return render_template("grid/index.html", kids=kids, villages=villages.list_villages(actor),
                           village_id=village_id, open_through=open_through, may_manage=may(actor, "grid.manage"))


def _group_choices(village_id=None) -> list[tuple]:
    """(id, label): the village's groups, or every group labelled with its village."""
    names = {v.id: v.name for v in villages.list_villages(current_actor())}
    return [(gr.id, gr.name if village_id else f"{names.get(gr.village_id, '')} · {gr.name}")
            for gr in grid.list_groups(current_actor(), village_id)]


def _node_page(grid_node_id, errors=None, form=None, status=200):
    actor = current_actor()
    node = grid.get_node(actor, grid_node_id)
    trail = grid.ancestors(node)
    parent_village = trail[-1].village_id if trail else None  # set: the node's village is inherited
    ctx = {"node": node, "info": grid.describe([node])[0], "trail": trail, "errors": errors or {},
           "form": form or {}, "children": grid.describe(grid.children(node)),
           "may_manage": may(actor, "grid.manage") and node.retired_at is None,
           "parent_village": parent_village}
    if ctx["may_manage"]:
        workers = {p["user"].id for p in ctx["info"]["staff"] if p["role"] == "grid_worker"}
        people = [u for u in staff.list_staff(actor) if u.is_active and u.id not in workers]
        roles = staff.roles_of([u.id for u in people])
        ctx["people"] = [(u.id, f"{u.display_name} ({u.username})") for u in people  # staff, not villagers
                         if {r["role"] for r in roles.get(u.id, [])} - {"villager"}]
        ctx["move_choices"] = [(n.id, label) for n, label in grid.parent_choices(node)]
        ctx["village_choices"] = [(v.id, v.name) for v in villages.list_villages(actor)]
        ctx["group_choices"] = _group_choices(parent_village)
    return render_template("grid/node.html", **ctx), status


@bp.get("/<uuid:grid_node_id>")
def node(grid_node_id):
    return _node_page(grid_node_id)


def _done_or_again(grid_node_id, errors, form):
    if errors:
        return _node_page(grid_node_id, errors, form, 422)
    return redirect(url_for("grid.node", grid_node_id=grid_node_id))


@bp.post("/<uuid:grid_node_id>/edit")
def edit(grid_node_id):
    form = request.form.to_dict()
    data = {k: form[k] for k in NODE_FIELDS if k in form}
    _node, errors = submit(grid.update_node, current_actor(), grid_node_id, data)
    return _done_or_again(grid_node_id, errors, form | {"form": "edit"})


@bp.post("/<uuid:grid_node_id>/move")
def move(grid_node_id):
    form = request.form.to_dict()
    _node, errors = submit(grid.move_node, current_actor(), grid_node_id, form.get("parent_id"))
    return _done_or_again(grid_node_id, errors, form | {"form": "move"})


@bp.post("/<uuid:grid_node_id>/retire")
def retire(grid_node_id):
    """A refusal (households still under the node) is shown next to the retire button."""
    try:
        _node, errors = submit(grid.retire_node, current_actor(), grid_node_id)
    except Conflict as e:
        db.session.rollback()
        errors = {"retire": [e.message]}
    return _done_or_again(grid_node_id, errors, {"form": "retire"})


@bp.post("/<uuid:grid_node_id>/workers")
def assign_worker(grid_node_id):
    _user, errors = submit(grid.assign_grid_worker, current_actor(), grid_node_id, request.form.get("user_id"))
    return _done_or_again(grid_node_id, errors, {"form": "worker"})


@bp.post("/<uuid:grid_node_id>/workers/remove")
def remove_worker(grid_node_id):
    _user, errors = submit(grid.remove_grid_worker, current_actor(), grid_node_id, request.form.get("user_id"))
    return _done_or_again(grid_node_id, errors, {"form": "worker"})


@bp.route("/new", methods=["GET", "POST"])
def create():
    actor = current_actor()
    errors, form = {}, request.form.to_dict() if request.method == "POST" else {"parent_id": request.args.get("parent", "")}
    if request.method == "POST":
        node, errors = submit(grid.create_node, actor, form)
        if not errors:
            return redirect(url_for("grid.node", grid_node_id=node.id))
    authorize(actor, "grid.manage")
    return render_template("grid/new.html", errors=errors, form=form,
                           parents=[(n.id, label) for n, label in grid.parent_choices()],
                           village_choices=[(v.id, v.name) for v in villages.list_villages(actor)],
                           group_choices=_group_choices()), (422 if errors else 200)


@bp.route("/levels", methods=["GET", "POST"])
def levels():
    actor = current_actor()
    errors, saved = {}, False
    form = request.form.to_dict()
    if request.method == "POST":
        data = [{"level": level, "name_zh": form.get(f"name_zh_{level}", ""), "name_en": form.get(f"name_en_{level}", "")}
                for level in LEVELS]
        _levels, errors = submit(grid.set_level_names, actor, data)
        saved = not errors
    rows = grid.get_levels(actor)
    if not form or saved:
        form = {f"name_{lang}_{r['level']}": r[f"name_{lang}"] for r in rows for lang in ("zh", "en")}
    return render_template("grid/levels.html", rows=rows, errors=errors, form=form, saved=saved,
                           may_manage=may(actor, "grid.manage")), (422 if errors else 200)


def _groups_page(village_id, errors=None, form=None, status=200):
    actor = current_actor()
    village = tenant_get_or_404(Village, village_id)
    return render_template("grid/groups.html", village=village, groups=grid.list_groups(actor, village.id),
                           errors=errors or {}, form=form or {},
                           may_manage=may(actor, "village_group.manage", village)), status


@bp.route("/villages/<uuid:village_id>/groups", methods=["GET", "POST"])
def groups(village_id):
    if request.method == "GET":
        return _groups_page(village_id)
    form = request.form.to_dict()
    _group, errors = submit(grid.create_group, current_actor(), form | {"village_id": village_id})
    if errors:
        return _groups_page(village_id, errors, form | {"form": "new"}, 422)
    return redirect(url_for("grid.groups", village_id=village_id))


@bp.post("/groups/<uuid:group_id>")
def edit_group(group_id):
    group = grid.get_group(current_actor(), group_id)
    form = request.form.to_dict()
    _group, errors = submit(grid.update_group, current_actor(), group_id, form)
    if errors:
        return _groups_page(group.village_id, errors, form | {"form": str(group_id)}, 422)
    return redirect(url_for("grid.groups", village_id=group.village_id))
