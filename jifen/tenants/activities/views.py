"""Activity pages: list, create, sign-up, attendance, check-in, participation report."""
from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform import clock
from jifen.platform.console import register_tile
from jifen.platform.db import parse_uuid
from jifen.platform.input import Day, check
from jifen.platform.roles.authz import authorize, may
from jifen.platform.web import current_actor, submit
from jifen.tenants.activities import service
from jifen.tenants.integrity import devices
from jifen.tenants.points.workflow import STATE_LABELS
from jifen.tenants.villages import service as villages

bp = Blueprint("activities", __name__, url_prefix="/t/<tenant_slug>/activities")
register_tile("activities.index", _l("Activities"), "activity.list", order=48)


def _village_names(actor) -> dict:
    return {v.id: v.name for v in villages.list_villages(actor)}


def _manageable_villages(actor) -> list[tuple]:
    return [(v.id, v.name) for v in villages.list_villages(actor) if service.may_manage_village(actor, v.id)]


@bp.get("/")
def index():
    actor = current_actor()
    village_id = request.args.get("village_id") or None
    activities = service.list_activities(actor, village_id)
    today = clock.today()
    names = _village_names(actor)
    visible = service.village_ids(actor)
    return render_template("activities/index.html",
                           upcoming=sorted([a for a in activities if a.held_on >= today], key=lambda a: a.held_on),
                           past=[a for a in activities if a.held_on < today], village_names=names,
                           village_filter=village_id,
                           villages=[(i, n) for i, n in names.items() if visible is None or i in visible],
                           may_create=bool(_manageable_villages(actor)) if may(actor, "activity.manage") else False)


def _form(activity, errors, form, status=200):
    actor = current_actor()
    choices = _manageable_villages(actor)
    village_id = form.get("village_id") or (str(choices[0][0]) if len(choices) == 1 else "")
    day = form.get("held_on") or clock.today().isoformat()
    held_on = check(Day(), day, "held_on", {})  # a bad day offers no items; the form says why on submit
    items = service.item_choices(parse_uuid(village_id), held_on) if held_on else []
    return render_template("activities/form.html", activity=activity, errors=errors, form=form | {
        "village_id": village_id, "held_on": day}, villages=choices, items=items), status


@bp.route("/new", methods=["GET", "POST"])
def create():
    actor = current_actor()
    authorize(actor, "activity.manage")
    if request.method == "POST":
        if request.form.get("refresh"):  # the village or day changed: show that day's items
            return _form(None, {}, request.form.to_dict())
        activity, errors = submit(service.create_activity, actor, request.form.to_dict())
        if not errors:
            return redirect(url_for("activities.detail", activity_id=activity.id))
        return _form(None, errors, request.form.to_dict(), 422)
    return _form(None, {}, request.args.to_dict())


@bp.route("/<uuid:activity_id>/edit", methods=["GET", "POST"])
def edit(activity_id):
    actor = current_actor()
    activity = service.get_activity(actor, activity_id)
    authorize(actor, "activity.manage", activity)
    if request.method == "POST":
        if request.form.get("refresh"):
            return _form(activity, {}, request.form.to_dict())
        _a, errors = submit(service.update_activity, actor, activity_id, request.form.to_dict())
        if not errors:
            return redirect(url_for("activities.detail", activity_id=activity_id))
        return _form(activity, errors, request.form.to_dict(), 422)
    return _form(activity, {}, {"village_id": str(activity.village_id), "item_code": activity.item_code,
                                "title": activity.title, "place": activity.place,
                                "description": activity.description, "held_on": activity.held_on.isoformat()})


def _detail(activity_id, errors=None, status=200, marked=None):
    actor = current_actor()
    activity = service.get_activity(actor, activity_id)
    may_manage = may(actor, "activity.manage", activity)
    own = service.own_households_in(actor, activity.village_id)
    eff = service.effective_item(activity.village_id, activity.item_code, activity.held_on)
    today = clock.today()
    ctx = {"activity": activity, "may_manage": may_manage, "errors": errors or {}, "marked": marked,
           "may_report": service.may_reach(actor, "activity.report", activity),
           "village_name": _village_names(actor).get(activity.village_id, ""), "eff": eff,
           "counts": service.counts(activity.id),
           "row_errors": any(k.startswith("household_ids.") for k in (errors or {})), "today": today, "is_open": activity.status == activity.OPEN,
           "own": [(h, service.signup_of(activity.id, h.id), service.attendance_of(activity.id, h.id)) for h in own],
           "may_signup": activity.status == activity.OPEN and activity.held_on >= today,
           "may_checkin": (activity.status == activity.OPEN
                           and abs((activity.held_on - today).days) <= service.CHECKIN_DAYS),
           "STATE_LABELS": STATE_LABELS}
    if may_manage:
        ctx["roster"] = service.attendance_roster(actor, activity.id)
        ctx["may_mark"] = activity.status == activity.OPEN and activity.held_on <= today
    return render_template("activities/detail.html", **ctx), status


@bp.get("/<uuid:activity_id>")
def detail(activity_id):
    return _detail(activity_id)


@bp.post("/<uuid:activity_id>/close")
def close(activity_id):
    submit(service.close_activity, current_actor(), activity_id)
    return redirect(url_for("activities.detail", activity_id=activity_id))


@bp.post("/<uuid:activity_id>/reopen")
def reopen(activity_id):
    submit(service.reopen_activity, current_actor(), activity_id)
    return redirect(url_for("activities.detail", activity_id=activity_id))


@bp.post("/<uuid:activity_id>/signup")
def signup(activity_id):
    _row, errors = submit(service.sign_up, current_actor(), activity_id, request.form.get("household_id") or None)
    if errors:
        return _detail(activity_id, errors, 422)
    return redirect(url_for("activities.detail", activity_id=activity_id, signed=1))


@bp.post("/<uuid:activity_id>/signup/cancel")
def cancel_signup(activity_id):
    _row, errors = submit(service.cancel_sign_up, current_actor(), activity_id,
                          request.form.get("household_id") or None)
    if errors:
        return _detail(activity_id, errors, 422)
    return redirect(url_for("activities.detail", activity_id=activity_id))


@bp.post("/<uuid:activity_id>/attendance")
def attendance(activity_id):
    marked, errors = submit(service.mark_attendance, current_actor(), activity_id,
                            request.form.getlist("household_id"))
    if errors:
        return _detail(activity_id, errors, 422)
    return redirect(url_for("activities.detail", activity_id=activity_id, marked=len(marked.created),
                            _anchor="attendance"))


@bp.route("/<uuid:activity_id>/checkin", methods=["GET", "POST"])
def checkin(activity_id):
    """The villager's check-in page: one big field for the code."""
    actor = current_actor()
    activity = service.get_activity(actor, activity_id)
    authorize(actor, "activity.checkin")  # villagers; get_activity checked the village
    own = service.own_households_in(actor, activity.village_id)
    errors, done, status = {}, None, 200
    token, _new = devices.current_token()  # the phone's device cookie (integrity signals)
    if request.method == "POST":
        done, errors = submit(service.check_in, actor, activity_id, request.form.get("code"),
                              request.form.get("household_id") or None, device_hash=devices.hashed(token))
        status = 422 if errors else 200
    else:
        done = next((a for a in (service.attendance_of(activity.id, h.id) for h in own) if a), None)
    page = make_response(render_template("activities/checkin.html", activity=activity, own=own, errors=errors,
                                         done=done, village_name=_village_names(actor).get(activity.village_id, ""),
                                         form=request.form), status)
    return devices.remember(page, token)


@bp.get("/<uuid:activity_id>/report")
def report(activity_id):
    actor = current_actor()
    result = service.participation_report(actor, activity_id)
    return render_template("activities/report.html", report=result, activity=result.activity,
                           village_name=_village_names(actor).get(result.activity.village_id, ""),
                           STATE_LABELS=STATE_LABELS)
