"""Star ratings, honour titles and recommendation lists: pages.

Staff: the honours page of a village (stars, titles and shortlists, lists, the wall's link), the
settings, a village's ratings, shortlists the panel decides on, recommendation lists and their
export. Villagers: their household's stars (also a panel on the household home). Anyone with the
link: the village's honour wall and its A4 poster."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from jifen.platform.console import register_tile
from jifen.platform.db import db
from jifen.platform.errors import InputConflict, Invalid, NotFound, refuse
from jifen.platform.files.responses import xlsx_response
from jifen.platform.page_once import new_key, once
from jifen.platform.qr import qr_svg
from jifen.platform.roles.authz import authorize, may, scope_ids
from jifen.platform.tenancy import tenant_get, tenant_get_or_404
from jifen.platform.web import current_actor, public, submit
from jifen.tenants.honours import recommendations, stars, titles, wall
from jifen.tenants.honours.common import (
    current_period,
    localized,
    may_village,
    parse_period,
    stars_text,
    villages_in_reach,
)
from jifen.tenants.honours.models import CONFIRMED, DECLINED, SHORTLISTED, StarRating
from jifen.tenants.households.models import RELATIONS, Household
from jifen.tenants.households.service import RELATION_LABELS, all_tags
from jifen.tenants.points.home_panels import register_home_panel
from jifen.tenants.villages.models import Village

bp = Blueprint("honours", __name__, url_prefix="/t/<tenant_slug>/honours")
register_tile("honours.index", _l("Stars and honours"), "honour.view", order=55)


@bp.context_processor
def _helpers():
    return {"stars_text": stars_text, "may": may, "actor": current_actor(), "title_name": titles.title_name,
            "list_name": recommendations.list_name, "localized": localized, "SHORTLISTED": SHORTLISTED,
            "CONFIRMED": CONFIRMED, "DECLINED": DECLINED}


def _period_arg() -> int:
    try:
        return parse_period(request.args.get("period"))
    except (Invalid, InputConflict):
        return current_period()


def _periods(public: bool = False) -> list[int]:
    """Years to choose from: this one and those with ratings (staff also get the last two)."""
    now = current_period()
    rated = set(db.session.execute(select(StarRating.period).distinct()).scalars())
    return sorted(rated | {now} | (set() if public else {now - 1, now - 2}), reverse=True)


# --- the civility file and the household home read these ----------------------------------------------

def household_honours(household_id) -> dict:
    """For the household civility file: confirmed titles and the stars of each period."""
    ratings = db.session.execute(select(StarRating).where(StarRating.household_id == household_id)
                                 .order_by(StarRating.period.desc())).scalars().all()
    return {"titles": [(period, titles.title_name(t)) for period, t, _c in titles.household_titles(household_id)],
            "stars": [(r.period, r.stars) for r in ratings]}


def veto_titles(codes) -> str:
    """"ZF04 赌博、ZF05 违规建房" for the veto item codes that capped a rating."""
    known = stars.deduction_items()
    return "、".join(f"{c} {known.get(c, '')}".strip() for c in codes)


@bp.app_context_processor
def _file_helpers():
    """For templates outside this blueprint that show stars and honours (the civility file, the
    household home's panel)."""
    return {"household_honours": household_honours, "hn_stars": stars_text, "hn_veto_titles": veto_titles}


def _home_panel(actor, household) -> dict | None:
    """The household home's stars card: its stars and what the next star needs."""
    if actor is None or not may(actor, "stars.view", household):
        return None
    found = stars.household_stars(actor, household.id)
    if not found.configured:
        return None
    return {"found": found, "titles": [(p, titles.title_name(t)) for p, t, _c in titles.household_titles(household.id)
                                       if p == found.period]}


register_home_panel("stars", "honours/_home_panel.html", _home_panel, order=20)


# --- the honours page ------------------------------------------------------------------------------

def _own_household_id(actor):
    own = sorted(scope_ids(actor, "stars.view", "household") or set(), key=str)
    return own[0] if own else None


@bp.get("/")
def index():
    actor = current_actor()
    authorize(actor, "honour.view")
    villages = villages_in_reach(actor, "honour.view")
    if not villages:
        own = _own_household_id(actor)
        if own is not None:
            return redirect(url_for("honours.household", household_id=own))
        return render_template("honours/index.html", villages=[], village=None, period=current_period(),
                               periods=_periods())
    wanted = request.args.get("village_id")
    village = next((v for v in villages if str(v.id) == wanted), villages[0])
    period = _period_arg()
    ctx = {"villages": villages, "village": village, "period": period, "periods": _periods(),
           "settings_link": may(actor, "stars.manage"), "manage_titles": may(actor, "honour.manage"),
           "may_draw": may(actor, "honour.shortlist", village)}
    if may_village(actor, "stars.view", village.id):
        ctx["village_stars"] = stars.village_stars(actor, village.id, period)
    all_titles = titles.list_titles(actor)
    found = titles.shortlists(actor, village.id, period)
    ctx["titles"] = [(t, found.get(t.id)) for t in all_titles]
    ctx["counts"] = titles.counts([s.id for s in found.values()])
    if may_village(actor, "recommendation.view", village.id):
        ctx["lists"] = recommendations.list_lists(actor)
    ctx["wall"] = wall.wall_link(actor, village.id)
    return render_template("honours/index.html", **ctx)


@bp.post("/villages/<uuid:village_id>/wall")
def wall_link(village_id):
    actor = current_actor()
    submit(wall.create_link, actor, village_id, renew=request.form.get("renew") == "1")
    return redirect(url_for("honours.index", village_id=village_id, _anchor="wall"))


# --- settings --------------------------------------------------------------------------------------

def _levels_from(form) -> list[dict]:
    return [{"stars": n, "min_points": form.get(f"levels.{n - 1}.min_points", ""),
             "top_percent": form.get(f"levels.{n - 1}.top_percent", "")} for n in stars.LEVELS]


VETO_ROWS = 3  # empty rows the form offers for new vetoes


def _vetoes_from(form) -> list[dict]:
    out, i = [], 0
    while f"vetoes.{i}.item_code" in form:
        out.append({"item_code": form.get(f"vetoes.{i}.item_code", ""), "max_stars": form.get(f"vetoes.{i}.max_stars", "")})
        i += 1
    return out


def _save_settings(actor, form) -> None:
    errors, conflicts = {}, {}
    for call in (lambda: stars.update_settings(actor, {"levels": _levels_from(form), "vetoes": _vetoes_from(form)}),
                 lambda: wall.update_settings(actor, {"name_display": form.get("name_display"),
                                                      "wall_size": form.get("wall_size")})):
        try:
            call()
        except InputConflict as e:
            conflicts |= e.errors
        except Invalid as e:
            errors |= e.errors
    refuse(errors, conflicts)


def _settings_form() -> dict:
    form = {"name_display": wall.settings().name_display, "wall_size": wall.settings().wall_size}
    by_stars = {lv.stars: lv for lv in stars.levels()}
    for n in stars.LEVELS:
        lv = by_stars.get(n)
        form[f"levels.{n - 1}.min_points"] = "" if lv is None or lv.min_points is None else lv.min_points
        form[f"levels.{n - 1}.top_percent"] = "" if lv is None or lv.top_percent is None else lv.top_percent
    vetoes = stars.vetoes()
    for i, v in enumerate(vetoes):
        form[f"vetoes.{i}.item_code"], form[f"vetoes.{i}.max_stars"] = v.item_code, v.max_stars
    for i in range(len(vetoes), len(vetoes) + VETO_ROWS):
        form[f"vetoes.{i}.item_code"], form[f"vetoes.{i}.max_stars"] = "", 0
    return form


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    actor = current_actor()
    authorize(actor, "stars.manage")
    errors, form = {}, _settings_form()
    if request.method == "POST":
        form = request.form.to_dict()
        _r, errors = submit(_save_settings, actor, form)
        if not errors:
            return redirect(url_for("honours.settings", saved=1))
    rows = 0
    while f"vetoes.{rows}.item_code" in form:
        rows += 1
    return render_template("honours/settings.html", form=form, errors=errors, veto_rows=rows,
                           items=stars.deduction_items(), levels=stars.LEVELS), 422 if errors else 200


@bp.post("/ratings/recompute")
def recompute():
    actor = current_actor()
    result, errors = submit(stars.recompute, actor, request.form.get("period"))
    return redirect(url_for("honours.index", village_id=request.form.get("village_id") or None,
                            period=request.form.get("period") or None, recomputed=result["households"] if result else 0))


# --- star ratings ------------------------------------------------------------------------------------

@bp.get("/villages/<uuid:village_id>/stars")
def village_stars(village_id):
    actor = current_actor()
    period = _period_arg()
    found = stars.village_stars(actor, village_id, period)
    return render_template("honours/village_stars.html", found=found, village=tenant_get(Village, village_id),
                           period=period, periods=_periods(), levels=stars.levels())


@bp.get("/households/<uuid:household_id>")
def household(household_id):
    actor = current_actor()
    period = _period_arg()
    found = stars.household_stars(actor, household_id, period)
    return render_template("honours/household.html", found=found, period=period, periods=_periods(),
                           village=tenant_get(Village, found.household.village_id), levels=stars.levels(),
                           titles=[(p, titles.title_name(t)) for p, t, _c in titles.household_titles(household_id)],
                           wall=wall.wall_of(found.household.village_id))


# --- titles -----------------------------------------------------------------------------------------

def _tags() -> list:
    return all_tags()


@bp.get("/titles")
def title_list():
    actor = current_actor()
    return render_template("honours/titles.html", titles=titles.list_titles(actor, include_inactive=True),
                           tags={t.code: t.label for t in _tags()})


def _title_form(title, form, errors, status=200):
    return render_template("honours/title_form.html", title=title, form=form, errors=errors, tags=_tags(),
                           once_key=new_key()), status


def _title_values(t) -> dict:
    return {"name_zh": t.name_zh, "name_en": t.name_en, "quota": t.quota,
            "min_points": "" if t.min_points is None else t.min_points,
            "min_stars": "" if t.min_stars is None else t.min_stars, "required_tag": t.required_tag or "",
            "no_veto": t.no_veto, "active": t.active, "sort_order": t.sort_order}


def _checkbox_form(names=("no_veto", "active")) -> dict:
    form = request.form.to_dict()
    for name in names:
        form[name] = "1" if request.form.get(name) else "0"
    return form


@bp.route("/titles/new", methods=["GET", "POST"])
def title_new():
    actor = current_actor()
    authorize(actor, "honour.manage")
    if request.method == "POST":
        form = _checkbox_form()

        def work():
            title, errors = submit(titles.create_title, actor, form)
            if errors:
                return _title_form(None, form, errors, 422)
            return redirect(url_for("honours.title_list", saved=title.id))

        return once(work)
    return _title_form(None, {"quota": 5, "no_veto": True, "active": True, "sort_order": 0}, {})


@bp.route("/titles/<uuid:honour_title_id>/edit", methods=["GET", "POST"])
def title_edit(honour_title_id):
    actor = current_actor()
    authorize(actor, "honour.manage")
    title = titles.get_title(actor, honour_title_id)
    if request.method == "POST":
        form = _checkbox_form()
        _t, errors = submit(titles.update_title, actor, honour_title_id, form)
        if errors:
            return _title_form(title, form, errors, 422)
        return redirect(url_for("honours.title_list", saved=honour_title_id))
    return _title_form(title, _title_values(title), {})


@bp.post("/titles/<uuid:honour_title_id>/draw")
def draw(honour_title_id):
    actor = current_actor()
    village_id = request.form.get("village_id") or None
    shortlist, errors = submit(titles.draw_shortlist, actor, honour_title_id, village_id,
                               request.form.get("period"))
    if errors:
        message = next(iter(errors.values()))[0]
        raise Invalid(message, errors)
    return redirect(url_for("honours.shortlist", shortlist_id=shortlist.id))


# --- shortlists and the panel ----------------------------------------------------------------------------

def _shortlist_page(shortlist_id, errors=None, status=200):
    actor = current_actor()
    shortlist = titles.get_shortlist(actor, shortlist_id)
    title = tenant_get(titles.HonourTitle, shortlist.title_id)
    candidates = titles.candidates_of(shortlist.id)
    households = {h.id: h for h in db.session.execute(select(Household).where(
        Household.id.in_([c.household_id for c in candidates] or [None]))).scalars()}
    return render_template("honours/shortlist.html", shortlist=shortlist, title=title, candidates=candidates,
                           households=households, village=tenant_get(Village, shortlist.village_id),
                           errors=errors or {}, may_decide=lambda c: titles.may_decide(actor, c),
                           may_draw=may(actor, "honour.shortlist", tenant_get(Village, shortlist.village_id)),
                           confirmed=sum(c.status == CONFIRMED for c in candidates),
                           tied=any(c.tied and c.status == SHORTLISTED for c in candidates)), status


@bp.get("/shortlists/<uuid:shortlist_id>")
def shortlist(shortlist_id):
    return _shortlist_page(shortlist_id)


@bp.post("/candidates/<uuid:honour_candidate_id>/decide")
def decide(honour_candidate_id):
    actor = current_actor()
    candidate = tenant_get_or_404(titles.HonourCandidate, honour_candidate_id)
    _c, errors = submit(titles.decide, actor, honour_candidate_id, request.form.to_dict())
    if errors:
        return _shortlist_page(candidate.shortlist_id, {str(honour_candidate_id): errors}, 422)
    return redirect(url_for("honours.shortlist", shortlist_id=candidate.shortlist_id,
                            _anchor=f"c-{honour_candidate_id}"))


# --- recommendation lists ------------------------------------------------------------------------------

@bp.get("/lists")
def list_index():
    actor = current_actor()
    villages = villages_in_reach(actor, "recommendation.view")
    return render_template("honours/lists.html", lists=recommendations.list_lists(actor, include_inactive=True),
                           villages=villages, criteria=recommendations.criteria_text)


def _list_form(rec, form, errors, status=200):
    return render_template("honours/list_form.html", rec=rec, form=form, errors=errors, tags=_tags(),
                           relations=[(r, RELATION_LABELS[r]) for r in RELATIONS], once_key=new_key()), status


@bp.route("/lists/new", methods=["GET", "POST"])
def list_new():
    actor = current_actor()
    authorize(actor, "recommendation.manage")
    if request.method == "POST":
        form = _checkbox_form()

        def work():
            rec, errors = submit(recommendations.create_list, actor, form)
            if errors:
                return _list_form(None, form, errors, 422)
            return redirect(url_for("honours.list_index", saved=rec.id))

        return once(work)
    return _list_form(None, {"no_veto": True, "active": True, "sort_order": 0}, {})


@bp.route("/lists/<uuid:recommendation_list_id>/edit", methods=["GET", "POST"])
def list_edit(recommendation_list_id):
    actor = current_actor()
    authorize(actor, "recommendation.manage")
    rec = recommendations.get_list(actor, recommendation_list_id)
    if request.method == "POST":
        form = _checkbox_form()
        _r, errors = submit(recommendations.update_list, actor, recommendation_list_id, form)
        if errors:
            return _list_form(rec, form, errors, 422)
        return redirect(url_for("honours.list_index", saved=recommendation_list_id))
    values = recommendations.snapshot(rec)
    form = {k: ("" if v is None else v) for k, v in values.items()}
    return _list_form(rec, form, {})


def _list_village(actor):
    villages = villages_in_reach(actor, "recommendation.view")
    wanted = request.args.get("village_id")
    village = next((v for v in villages if str(v.id) == wanted), villages[0] if villages else None)
    if village is None:
        raise NotFound(_("Not found."))
    return villages, village


@bp.get("/lists/<uuid:recommendation_list_id>")
def list_members(recommendation_list_id):
    actor = current_actor()
    authorize(actor, "recommendation.view")
    villages, village = _list_village(actor)
    period = _period_arg()
    found = recommendations.members(actor, recommendation_list_id, village.id, period)
    return render_template("honours/list.html", found=found, villages=villages, village=village, period=period,
                           periods=_periods(), criteria=recommendations.criteria_text(found.rec))


@bp.get("/lists/<uuid:recommendation_list_id>/export")
def list_export(recommendation_list_id):
    actor = current_actor()
    authorize(actor, "recommendation.view")
    _villages, village = _list_village(actor)
    data, filename = recommendations.export(actor, recommendation_list_id, village.id, _period_arg(),
                                            masked=request.args.get("masked") == "1")
    return xlsx_response(data, filename)


# --- the public honour wall -----------------------------------------------------------------------------

def _wall_context(token) -> dict:
    found = wall.public_content(token, _period_arg())
    share_url = url_for("honours.public_wall", token=token, _external=True)
    first = ", ".join(r.name for r in found.top[:3])
    share_text = (_("Year %(year)d: %(names)s and the village's other honoured households.", year=found.period, names=first)
                  if first else _("Year %(year)d.", year=found.period))
    # the share card's line, and the poster's QR code that opens this page
    return {"wall": found, "token": token, "periods": _periods(public=True), "share_url": share_url,
            "share_text": share_text, "qr": qr_svg(share_url)}


@bp.get("/wall/<token>")
@public
def public_wall(token):
    """Anyone with the link, signed in or not."""
    return render_template("honours/wall.html", **_wall_context(token))


@bp.get("/wall/<token>/print")
@public
def public_wall_print(token):
    """The A4 poster for the village notice board."""
    return render_template("honours/wall_print.html", **_wall_context(token))
