"""Pages where applications are judged: the work queue, an application's page and its one-tap actions."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.roles.authz import may, villager_only
from jifen.platform.tenancy import tenant_get, tenant_get_or_404
from jifen.platform.web import current_actor, submit
from jifen.tenants.households import service as households
from jifen.tenants.households.models import Household
from jifen.tenants.points import applications, notices
from jifen.tenants.points.models import PROXY, Objection
from jifen.tenants.points.workflow import OBJECTED, PENDING, STATE_LABELS, STATES, STEPS, SUBMITTED, VERIFIED
from jifen.tenants.rulebook.models import RuleCategory, RuleItem

bp = Blueprint("points_review", __name__, url_prefix="/t/<tenant_slug>/points")
register_tile("points_review.queue", _l("Work queue"), "application.verify", order=42)
register_tile("points_review.panel", _l("Panel work queue"), "application.certify", order=43)
register_tile("points_review.applications", _l("Applications"), "application.list", order=45)

ORIGIN_LABELS = {"self": _l("Applied by the household"), "proxy": _l("Filed on the household's behalf"),
                 "staff": _l("Recorded by staff"), "activity": _l("From an activity")}
STEP_LABELS = {name: step.label for name, step in STEPS.items()}


@bp.context_processor
def _helpers():
    items: dict = {}

    def item_of(app):
        if app.item_id not in items:
            items[app.item_id] = tenant_get(RuleItem, app.item_id)
        return items[app.item_id]

    def item_name(app) -> str:
        item = item_of(app)
        return item.title_zh if item else app.item_code

    return {"STATE_LABELS": STATE_LABELS, "ORIGIN_LABELS": ORIGIN_LABELS, "STEP_LABELS": STEP_LABELS,
            "item_of": item_of, "item_name": item_name}


# --- the application page ------------------------------------------------------------------------

def _detail(application_id, errors=None, form=None, status=200):
    actor = current_actor()
    app = applications.get_application(actor, application_id)
    household = tenant_get(Household, app.household_id)
    item = tenant_get(RuleItem, app.item_id)
    category = tenant_get(RuleCategory, item.category_id) if item else None
    tally = applications.tally(app.id)
    objections = notices.objections_of(app.id)
    own = applications.own_households(actor) if may(actor, "application.certify", app) or \
        may(actor, "objection.decide", app) else set()
    voted = any(v.member_id == actor.id for v in tally.voters)
    can = {
        "verify": (app.state == SUBMITTED and may(actor, "application.verify", app)
                   and not applications.filed_by(actor, app)),
        "vote": (app.state == VERIFIED and may(actor, "application.certify", app) and app.household_id not in own
                 and not voted),
        "withdraw": app.state == SUBMITTED and may(actor, "application.withdraw", app),
        "confirm": (app.origin == PROXY and app.confirmed_at is None and app.state in PENDING
                    and may(actor, "application.confirm", app)),
        "decide": (app.state == OBJECTED and may(actor, "objection.decide", app) and app.household_id not in own),
    }
    return render_template("points/detail.html", app=app, household=household, item=item, category=category,
                           photos=applications.photos_of(app.id), steps=applications.steps_of(app.id), tally=tally,
                           objections=objections, can=can, own=app.household_id in own, voted=voted,
                           filed_by_me=applications.filed_by(actor, app),
                           show_code=not villager_only(actor),  # rule codes are staff shorthand
                           errors=errors or {}, form=form or {}), status


@bp.get("/applications/<uuid:application_id>")
def detail(application_id):
    return _detail(application_id)


def _next_url(default: str) -> str:
    """Back to the queue when the form came from there; else the application page."""
    target = request.form.get("next", "")
    return target if target.startswith("/t/") and "//" not in target and "\\" not in target else default


def _after(application_id, call, form_name: str):
    """Run a one-tap action: on to the next page, or the form again with its errors."""
    _result, errors = submit(call)
    if not errors:
        return redirect(_next_url(url_for("points_review.detail", application_id=application_id)), 303)
    form = request.form.to_dict() | {"form": form_name}
    if request.form.get("next", "").endswith("/queue") or request.form.get("next", "").endswith("/panel"):
        return _queue(row_errors={str(application_id): errors}, row_form=form, status=422)
    return _detail(application_id, errors, form, 422)


@bp.post("/applications/<uuid:application_id>/verify")
def verify(application_id):
    form = request.form
    return _after(application_id, lambda: applications.verify(
        current_actor(), application_id, {"points": form.get("points", ""), "reason": form.get("reason", "")}), "verify")


@bp.post("/applications/<uuid:application_id>/reject")
def reject(application_id):
    return _after(application_id, lambda: applications.reject(
        current_actor(), application_id, {"reason": request.form.get("reason", "")}), "reject")


@bp.post("/applications/<uuid:application_id>/vote")
def vote(application_id):
    form = request.form
    return _after(application_id, lambda: applications.vote(
        current_actor(), application_id, {"decision": form.get("decision", ""), "reason": form.get("reason", "")}),
        "vote")


@bp.post("/applications/<uuid:application_id>/withdraw")
def withdraw(application_id):
    return _after(application_id, lambda: applications.withdraw(current_actor(), application_id), "withdraw")


@bp.post("/applications/<uuid:application_id>/confirm")
def confirm(application_id):
    return _after(application_id, lambda: applications.confirm(current_actor(), application_id), "confirm")


@bp.post("/objections/<uuid:objection_id>/decide")
def decide(objection_id):
    objection = tenant_get_or_404(Objection, objection_id)
    form = request.form
    return _after(objection.application_id, lambda: notices.decide(
        current_actor(), objection_id, {"decision": form.get("decision", ""), "reason": form.get("reason", "")}),
        f"decide-{objection_id}")


# --- the work queue --------------------------------------------------------------------------------

def _queue(row_errors=None, row_form=None, status=200):
    actor = current_actor()
    queue = applications.work_queue(actor)
    shown = [app for app, _h in queue.to_verify + queue.to_certify]
    return render_template("points/queue.html", queue=queue, row_errors=row_errors or {}, row_form=row_form or {},
                           photos=applications.photos_by_application([a.id for a in shown]),
                           filed_by_me={a.id for a in shown if applications.filed_by(actor, a)},
                           next_url=request.path if request.method == "GET" else request.form.get("next", "")), status


@bp.get("/queue")
def queue():
    """待办: what waits for this person, oldest first, with one-tap buttons."""
    return _queue()


@bp.get("/panel")
def panel():
    """The same work queue, the panel's way in (a home tile for panel members)."""
    return _queue()


# --- the list ----------------------------------------------------------------------------------------

@bp.get("/applications", endpoint="applications")
def applications_list():
    actor = current_actor()
    args = request.args
    page, errors = submit(applications.list_applications, actor, state=args.get("state") or None,
                          village_id=args.get("village_id") or None, batch_id=args.get("batch_id") or None,
                          household_id=args.get("household_id") or None, page=args.get("page", 1))
    filters = {k: args.get(k, "") for k in ("state", "village_id", "batch_id", "household_id")}
    return render_template("points/list.html", page=page, errors=errors, filters=filters, states=STATES,
                           villages=households.villages_for(actor) if may(actor, "household.list") else [],
                           may_proxy=may(actor, "application.proxy"), may_record=may(actor, "application.record"),
                           may_apply=may(actor, "application.self_apply"),
                           may_queue=may(actor, "application.verify") or may(actor, "application.certify")), \
        (422 if errors else 200)

