"""Rankings: pages (township, village, grid node), the household home panel and the console tile."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from jifen.platform import page_cache
from jifen.platform.console import register_tile
from jifen.platform.errors import Invalid
from jifen.platform.roles.authz import authorize, may, villager_only
from jifen.platform.tenancy import tenant_get
from jifen.platform.web import current_actor
from jifen.tenants.points.home_panels import register_home_panel
from jifen.tenants.rankings import service
from jifen.tenants.rankings.service import ACTION, GRID, TOWNSHIP, VILLAGE
from jifen.tenants.villages.grid import level_name
from jifen.tenants.villages.models import GridNode

bp = Blueprint("rankings", __name__, url_prefix="/t/<tenant_slug>/rankings")
register_tile("rankings.index", _l("Rankings"), ACTION, order=35)
PER_PAGE = 50


@bp.context_processor
def _helpers():
    return {"level_name": level_name, "actor": current_actor(), "may": may}


@bp.get("/")
def index():
    """Where a ranking can be opened from: the township, the villages and grid nodes in reach. A
    villager goes straight to their village's ranking."""
    actor = current_actor()
    authorize(actor, ACTION)
    try:  # ?period=Y (the periods page links a closed year here): that year's last snapshot
        period = service.parse_period(request.args.get("period"))
    except Invalid:
        period = None
    villages = service.villages_in_scope(actor)
    if villager_only(actor) and len(villages) == 1:
        return redirect(url_for("rankings.village", village_id=villages[0].id, period=period))
    township = service.township_target(actor)
    spanning = service.grid_nodes_in_scope(actor, None)
    own_nodes = [n for n in (tenant_get(GridNode, i) for i in sorted(
        {i for g in actor.grants if g.role == "grid_worker" for i in g.scope_ids}, key=str)) if n is not None]
    return render_template("rankings/index.html", villages=villages, may_township=may(actor, ACTION, township),
                           spanning=spanning, own_nodes=own_nodes, snapshot=service.pick_snapshot(period=period),
                           period=period)


def _args() -> dict:
    page = request.args.get("page", "1")
    return {"period": request.args.get("period") or None, "day": request.args.get("date") or None,
            "page": int(page) if page.isdigit() else 1, "per_page": PER_PAGE}


def _body(result, endpoint: str, errors: dict, **url_args) -> str:
    """The page below its title: the period picker, the grid rankings below the target, the rows."""
    def page_url(n: int) -> str:
        return url_for(endpoint, **url_args, **(request.args.to_dict() | {"page": n}))

    target = result.target
    grid = []
    if target.kind == VILLAGE and result.full_names:
        grid = service.grid_nodes_in_scope(current_actor(), target.id)
    elif target.kind == GRID:
        children = service.grid_nodes_in_scope(current_actor(), target.node.village_id) \
            if target.node.village_id else service.grid_nodes_in_scope(current_actor(), None)
        grid = [n for n in children if n.parent_id == target.id]
    parents = []
    if target.kind == GRID:
        for node_id in target.node.ancestor_ids()[:-1]:
            node = tenant_get(GridNode, node_id)
            if node is not None and may(current_actor(), ACTION, service.grid_target(current_actor(), node.id)):
                parents.append(node)
    period = "" if errors else (request.args.get("period") or "")
    return render_template("rankings/_ranking.html", r=result, target=target, page_url=page_url, errors=errors,
                           periods=service.periods(), period=period,
                           grid=grid, parents=parents, url_args=url_args, endpoint=endpoint,
                           may_ledger=may(current_actor(), "ledger.view"),
                           may_village=target.village is not None and may(
                               current_actor(), ACTION, target if target.kind == VILLAGE
                               else service.village_target(current_actor(), target.village.id)))


def _ranking(make_target, endpoint: str, **url_args):
    """The target is found and the reader's reach checked on every request; the body is kept per
    reader's grants until the township's data changes (platform/page_cache.py): a village's
    ranking is the page its villagers open most, and it changes once a night. A bad ?period= or
    ?date= is said next to the period picker, with the latest ranking, and not kept."""
    actor, args = current_actor(), _args()
    target = make_target(actor, **url_args_for_service(url_args))
    authorize(actor, ACTION, target)
    try:  # what the service would refuse, found before anything is kept
        service.parse_day(args["day"])
        service.parse_period(args["period"])
    except Invalid as e:
        result = service.ranking(actor, target, **(args | {"period": None, "day": None}))
        return render_template("rankings/ranking.html", target=target,
                               body=Markup(_body(result, endpoint, e.errors, **url_args))), 422
    body = page_cache.fragment("ranking", actor, lambda: _body(service.ranking(actor, target, **args), endpoint, {},
                                                              **url_args))
    return render_template("rankings/ranking.html", target=target, body=body)


def url_args_for_service(url_args: dict) -> dict:
    return {"node_id": url_args["grid_node_id"]} if "grid_node_id" in url_args else dict(url_args)


@bp.get("/township")
def township():
    return _ranking(service.township_target, "rankings.township")


@bp.get("/villages/<uuid:village_id>")
def village(village_id):
    return _ranking(service.village_target, "rankings.village", village_id=village_id)


@bp.get("/grid/<uuid:grid_node_id>")
def grid_node(grid_node_id):
    return _ranking(service.grid_target, "rankings.grid_node", grid_node_id=grid_node_id)


# --- the household home panel ----------------------------------------------------------------

def panel_context(actor, household) -> dict | None:
    """The household's rank in its village and the township, with movement, for its home page."""
    if not may(actor, ACTION, household):
        return None
    ranks = service.household_ranks(actor, household.id)
    village = ranks.get("village")
    if village is None:
        return None
    village_target = service.village_target(actor, household.village_id)
    return {"snapshot": ranks.snapshot, "village": village, "township": ranks.get("township"),
            "micro": ranks.get("grid4"), "earned": ranks.earned,
            "url": url_for("rankings.village", village_id=household.village_id)
            if may(actor, ACTION, village_target) else None}


register_home_panel("ranking", "rankings/_panel.html", panel_context, order=20)


def movement_label(movement: int | None, is_new: bool) -> str:
    """For screen readers and titles: what the arrow says."""
    if is_new:
        return _("new in this ranking")
    if movement is None:
        return ""
    if movement > 0:
        return _("up %(n)d", n=movement)
    if movement < 0:
        return _("down %(n)d", n=-movement)
    return _("unchanged")


@bp.app_template_global("rk_movement_label")
def _movement_label(movement, is_new):
    return movement_label(movement, is_new)


KINDS = {TOWNSHIP: _l("Township"), VILLAGE: _l("Village"), GRID: _l("Grid")}
