"""The township dashboard (看板), its full-screen display (大屏) and its workbook: pages over
`dashboard.dashboard`. Every chart is a `ChartData` built here once, so the picture, its table
and the .xlsx download show the same numbers."""
from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from jifen.platform import page_cache
from jifen.platform.charts import BAR, HISTOGRAM, LINE, ChartData
from jifen.platform.charts.xlsx import charts_download
from jifen.platform.console import register_tile
from jifen.platform.roles.authz import may
from jifen.platform.web import current_actor
from jifen.tenants.cockpit import dashboard
from jifen.tenants.cockpit.dashboard import ACTION
from jifen.tenants.integrity import service as signals

bp = Blueprint("cockpit", __name__, url_prefix="/t/<tenant_slug>/cockpit")
register_tile("cockpit.index", _l("Dashboard"), ACTION, order=1)

RANKED_ENDS = 10  # the dashboard shows this many places at each end of its ranking; the rest on /ranking


def shown_places(children: list) -> tuple[list, int]:
    """(the places the dashboard shows, how many it leaves to the full ranking): all of them when
    they are few, else the best and the worst `RANKED_ENDS`. A leader acts on the ends; three
    hundred bars are read by nobody, and would make every view of a large township heavy."""
    if len(children) <= 2 * RANKED_ENDS:
        return children, 0
    return children[:RANKED_ENDS] + children[-RANKED_ENDS:], len(children) - 2 * RANKED_ENDS


def month_label(month) -> str:
    return month.strftime("%b") if str(get_locale()) == "en" else f"{month.month}月"


def charts(board: dashboard.Dashboard, places: list | None = None) -> list[ChartData]:
    """The dashboard's charts, labels translated, links carrying the filters; the ranking chart of
    `places` (default: every ranked place, as the workbook has them)."""
    places = board.children if places is None else places
    months = [month_label(m["month"]) for m in board.months]
    out = [
        ChartData("points-by-month", _("Points by month"), months, [
            (_("Issued"), [m["issued"] for m in board.months]),
            (_("Deducted"), [m["deducted"] for m in board.months]),
            (_("Redeemed"), [m["redeemed"] for m in board.months])], unit=_("points"), x_name=_("Month"),
            links=[url_for("cockpit.index", **board.filters.args(month=m["month"].strftime("%Y-%m")))
                   for m in board.months]),
        ChartData("participation-by-month", _("Participation rate by month"), months, [
            (_("Households with a posted item"), [m["participation"] for m in board.months])], unit="%",
            kind=LINE, x_name=_("Month")),
    ]
    if places:
        kind = _("Village") if board.scope.kind == dashboard.TOWNSHIP else _("Grid")
        out.append(ChartData("participation-by-place", _("Participation this month, ranked"),
                             [f"{c['rank']}. {c['name']}" for c in places],
                             [(_("Participation rate"), [c["participation"] for c in places])], unit="%",
                             x_name=kind, links=[c["url"] for c in places]))
    if board.categories:
        out.append(ChartData("points-by-category", _("Points by rule category, year to date"),
                             [c["name"] for c in board.categories],
                             [(_("Issued"), [c["year_issued"] for c in board.categories]),
                              (_("Deducted"), [c["year_deducted"] for c in board.categories])],
                             unit=_("points"), x_name=_("Category"),
                             links=[url_for("cockpit.index", **board.filters.args(category=c["id"]))
                                    for c in board.categories]))
    if board.top_items:
        out.append(ChartData("top-items", _("Rule items that moved the most points"),
                             [i["title"] for i in board.top_items],
                             [(_("Issued"), [i["issued"] for i in board.top_items]),
                              (_("Deducted"), [i["deducted"] for i in board.top_items])], unit=_("points"),
                             x_name=_("Rule item")))
    out.append(ChartData("points-per-household", _("Households by earned points this year"),
                         [f"{b['from']}–{b['to']}" for b in board.histogram],
                         [(_("Households"), [b["households"] for b in board.histogram])], unit=_("households"),
                         kind=HISTOGRAM, x_name=_("Earned points")))
    if board.store["by_item"]:
        out.append(ChartData("redemptions-by-item", _("Store redemptions this month"),
                             [i["name"] for i in board.store["by_item"]],
                             [(_("Points"), [i["points"] for i in board.store["by_item"]]),
                              (_("Quantity"), [i["quantity"] for i in board.store["by_item"]])], kind=BAR,
                             x_name=_("Reward")))
    if board.rewards["stars"]:
        out.append(ChartData("stars", _("Star ratings"), [_("%(n)d stars", n=s) for s, _n in board.rewards["stars"]],
                             [(_("Households"), [n for _s, n in board.rewards["stars"]])], unit=_("households"),
                             x_name=_("Stars")))
    return out


def _board(actor) -> dashboard.Dashboard:
    """The dashboard of the request's filters, its ranked places linked."""
    return _linked(dashboard.dashboard(actor, request.args))


def _linked(board):
    """Each ranked village or grid of `board` (a Dashboard or a Ranking) linking to its own dashboard
    with the same filters (the chart's bars and the table's rows alike)."""
    if not board.children:
        return board
    # one url_for, the id put in after (hundreds of villages: url_for for each was most of the ranking's cost)
    mark = "00000000-0000-0000-0000-00000000beef"
    place = {"village": mark, "grid": None} if board.children[0]["kind"] == dashboard.VILLAGE else {"grid": mark}
    url = url_for("cockpit.index", **board.filters.args(**place))
    for child in board.children:
        child["url"] = url.replace(mark, str(child["id"]))
    return board


def _yuan(fen) -> str:
    return "¥" + format_decimal((fen or 0) / 100, format="#,##0.00")


@bp.get("/")
def index():
    actor = current_actor()
    if request.args.get("format") == "xlsx":
        return charts_download(charts(_board(actor)), "dashboard")
    return render_template("cockpit/index.html", board_html=page_cache.fragment("cockpit", actor, lambda: _index(actor)))


def _index(actor) -> str:
    board = _board(actor)
    places, hidden = shown_places(board.children)
    drawn = charts(board, places)
    integrity = signals.summary(actor) if may(actor, "integrity.list") else None
    return render_template("cockpit/_board.html", board=board, charts={c.key: c for c in drawn}, yuan=_yuan,
                           integrity=integrity, places=places, hidden_places=hidden, ranked_ends=RANKED_ENDS,
                           xlsx_url=url_for("cockpit.index", **board.filters.args(format="xlsx")),
                           screen_url=url_for("cockpit.screen", **board.filters.args()),
                           ranking_url=url_for("cockpit.ranking", **board.filters.args()))


@bp.get("/ranking")
def ranking():
    """Every village (or grid) of the dashboard's scope, ranked: the whole list the dashboard
    shortens to its two ends."""
    actor = current_actor()
    return render_template("cockpit/ranking.html",
                           ranking_html=page_cache.fragment("cockpit-ranking", actor, lambda: _ranking(actor)))


def _ranking(actor) -> str:
    board = _linked(dashboard.ranking(actor, request.args))
    return render_template("cockpit/_ranking.html", board=board,
                           dashboard_url=url_for("cockpit.index", **board.filters.args()))


@bp.get("/screen")
def screen():
    """The full-screen display for a screen in the township hall: big numbers, few charts, and it
    refreshes itself every minute (from the cache while nothing changed)."""
    actor = current_actor()
    return page_cache.fragment("cockpit-screen", actor, lambda: _screen(actor))


def _screen(actor) -> str:
    board = _board(actor)
    return render_template("cockpit/screen.html", board=board,
                           charts={c.key: c for c in charts(board, shown_places(board.children)[0])},
                           yuan=_yuan, refresh_seconds=60)
