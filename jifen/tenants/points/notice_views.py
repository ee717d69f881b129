"""Public notice pages: the staff list, a notice, its public page and printable A4, objections."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import func, select

from jifen.platform.console import register_tile
from jifen.platform.db import db
from jifen.platform.errors import NotFound
from jifen.platform.qr import qr_svg
from jifen.platform.roles.authz import may
from jifen.platform.tenancy import tenant_get, tenant_get_or_404
from jifen.platform.web import current_actor, public, submit
from jifen.tenants.households.models import Household
from jifen.tenants.households.rules import mask_name
from jifen.tenants.points import notices
from jifen.tenants.points.home_panels import register_home_panel
from jifen.tenants.points.models import Application, Objection
from jifen.tenants.points.workflow import CERTIFIED, STATE_LABELS, item_title
from jifen.tenants.villages import service as villages
from jifen.tenants.villages.models import Village

bp = Blueprint("notices", __name__, url_prefix="/t/<tenant_slug>/notices")
register_tile("notices.index", _l("Public notices"), "notice.list", order=30)


def application_url(application_id) -> str:
    """The application page (built by the review pages); by path if that endpoint is not there."""
    from flask import g
    for endpoint in ("points_review.application", "points_review.detail"):
        try:
            return url_for(endpoint, application_id=application_id)
        except Exception:  # noqa: BLE001,S112 - the endpoint belongs to another module
            continue
    return f"/t/{g.tenant_slug}/points/applications/{application_id}"


@bp.context_processor
def _helpers():
    return {"STATE_LABELS": STATE_LABELS, "item_title": item_title, "application_url": application_url,
            "masked": mask_name, "may": may, "actor": current_actor()}


def _home_panel(actor, household) -> dict | None:
    """The household home's way to the village's notice: what is up, until when, and whether this
    person has objected to anything on it (the public page has the objection buttons)."""
    found = notices.open_notices_in(household.village_id)
    if not found:
        return None
    return {"notices": [(n, len(notices.objected_by(actor, n))) for n in found]}


register_home_panel("notice", "notices/_home_panel.html", _home_panel, order=25)


# --- staff -------------------------------------------------------------------------------------

def _waiting() -> dict:
    """Certified items waiting for a notice, per village."""
    return dict(db.session.execute(select(Application.village_id, func.count()).where(
        Application.state == CERTIFIED).group_by(Application.village_id)).all())


def _index(errors=None, status=200):
    actor = current_actor()
    found = notices.list_notices(actor)
    waiting = _waiting()
    all_villages = villages.list_villages(actor)
    publishable = [(v, waiting.get(v.id, 0)) for v in all_villages
                   if waiting.get(v.id) and may(actor, "notice.publish", v)]
    return render_template("notices/index.html", notices=found, publishable=publishable,
                           village_names={v.id: v.name for v in all_villages}, errors=errors or {},
                           is_open=notices.is_open), status


@bp.get("/")
def index():
    return _index()


@bp.post("/publish")
def publish():
    notice, errors = submit(notices.publish, current_actor(), request.form.get("village_id") or None)
    if errors:
        return _index(errors, 422)
    return redirect(url_for("notices.detail", notice_id=notice.id))


def _detail(notice_id, errors=None, status=200):
    actor = current_actor()
    notice = notices.get_notice(actor, notice_id)
    items = notices.notice_items(notice)
    objections = {app.id: notices.objections_of(app.id) for app, _h in items}
    return render_template("notices/detail.html", notice=notice, village=tenant_get(Village, notice.village_id),
                           items=items, objections=objections, errors=errors or {}, open=notices.is_open(notice),
                           Objection=Objection), status


@bp.get("/<uuid:notice_id>")
def detail(notice_id):
    return _detail(notice_id)


@bp.post("/objections/<uuid:objection_id>/decide")
def decide(objection_id):
    objection = tenant_get_or_404(Objection, objection_id)
    _o, errors = submit(notices.decide, current_actor(), objection_id, request.form.to_dict())
    if errors:
        return _detail(objection.notice_id, {str(objection_id): errors}, 422)
    return redirect(url_for("notices.detail", notice_id=objection.notice_id) + f"#o-{objection_id}")


# --- the public page ---------------------------------------------------------------------------

def _public_context(token) -> dict:
    notice = notices.notice_by_token(token)
    items = notices.notice_items(notice)
    share_url = url_for("notices.public_notice", token=token, _external=True)
    return {"notice": notice, "village": tenant_get(Village, notice.village_id), "items": items,
            "open": notices.is_open(notice), "token": token, "share_url": share_url,
            # the share card's line, and the printed sheet's QR code that opens this page
            "share_text": ngettext("Notice No. %(n)d: %(num)d item, public from %(opens)s to %(closes)s.",
                                   "Notice No. %(n)d: %(num)d items, public from %(opens)s to %(closes)s.",
                                   len(items), n=notice.number, opens=notice.opens_on, closes=notice.closes_on),
            "qr": qr_svg(share_url)}


@bp.get("/public/<token>")
@public
def public_notice(token):
    """Anyone with the link; a signed-in villager of the village also sees an "object" button."""
    ctx = _public_context(token)
    actor = current_actor()
    ctx["objectable"] = ({app.id for app, _h in ctx["items"] if notices.may_object(actor, app, ctx["notice"])}
                         if actor is not None and actor.kind == "user" else set())
    ctx["objected"] = notices.objected_by(actor, ctx["notice"])
    ctx["signed_in"] = actor is not None
    return render_template("notices/public.html", **ctx)


@bp.get("/public/<token>/print")
@public
def public_print(token):
    """The A4 sheet for the village notice board."""
    return render_template("notices/print.html", **_public_context(token))


def _objection_target(token, application_id):
    notice = notices.notice_by_token(token)
    app = tenant_get_or_404(Application, application_id)
    if app.notice_id != notice.id:
        raise NotFound(_("Not found."))
    return notice, app


@bp.route("/public/<token>/items/<uuid:application_id>/object", methods=["GET", "POST"])
def object_item(token, application_id):
    """A villager of the village objects to one item while the notice is up (signed in)."""
    actor = current_actor()
    notice, app = _objection_target(token, application_id)
    errors, form = {}, {}
    if request.method == "POST":
        form = request.form.to_dict()
        _objection, errors = submit(notices.object_to, actor, application_id, form)
        if not errors:
            return redirect(url_for("notices.public_notice", token=token, objected=app.id))
    elif not notices.may_object(actor, app, notice):
        raise NotFound(_("Not found."))
    household = tenant_get(Household, app.household_id)
    return render_template("notices/object.html", notice=notice, app=app, household=household, token=token,
                           village=tenant_get(Village, notice.village_id), errors=errors,
                           form=form), 422 if errors else 200
