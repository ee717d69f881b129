"""Pages where applications come to be: self-application, proxy entry, staff records, batch sheets."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from jifen.platform import clock
from jifen.platform.console import register_tile
from jifen.platform.db import db
from jifen.platform.errors import InputConflict, Invalid
from jifen.platform.files.service import store_image, take_staged
from jifen.platform.page_once import new_key, once
from jifen.platform.roles.authz import authorize, may
from jifen.platform.tenancy import tenant_get_or_404
from jifen.platform.unit_of_work import keep_writes_with_refusal
from jifen.platform.web import current_actor, submit, upload_form
from jifen.tenants.households import service as households
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.points import applications, entries, notices, posting  # noqa: F401
from jifen.tenants.points.applications import MAX_PHOTOS

bp = Blueprint("points_apply", __name__, url_prefix="/t/<tenant_slug>/points")
register_tile("points_apply.apply", _l("Apply for points"), "application.self_apply", order=40)
register_tile("points_apply.proxy_search", _l("Apply for a household"), "application.proxy", order=41)
register_tile("points_apply.batch", _l("Batch sheet"), "application.record", order=44)

def _photos() -> list:
    return [f for f in request.files.getlist("photos") if f and f.filename]


def _staged() -> list[str]:
    """Ids of the photos kept from an earlier, refused try (hidden inputs of the form shown again)."""
    return request.form.getlist("staged_photos")


def _keep_photos(actor) -> list:
    """After the form was refused (its work rolled back): its photos stored as staged, committed with
    the refusal, so the form shown again carries them and a villager on a slow network does not send
    them twice. Photos kept from before stay kept; a file that is no photo is dropped (its error is
    shown)."""
    db.session.rollback()
    kept, _refused = take_staged(actor, _staged())
    for upload in _photos():
        upload.stream.seek(0)
        try:
            kept.append(store_image(actor, upload, field="photos", staged=True))
        except Invalid:
            continue
    if kept:
        keep_writes_with_refusal()
    return kept


# --- self-application and proxy entry --------------------------------------------------------------

def _apply_form(household: Household | None, choices: list, errors: dict, form, proxy: bool, status: int = 200,
                kept=()):
    village_id = household.village_id if household else None
    groups = applications.items_for(village_id, household=True) if village_id else []
    return render_template("points/apply.html", household=household, choices=choices, groups=groups,
                           errors=errors, form=form, proxy=proxy, once_key=new_key(), max_photos=MAX_PHOTOS,
                           today=clock.today(), kept=kept), status


def _self_page(errors=None, form=None, status=200, kept=()):
    actor = current_actor()
    authorize(actor, "application.self_apply")
    choices = applications.applicant_households(actor)
    chosen = (form or request.args).get("household_id") or ""
    household = next((h for h in choices if str(h.id) == chosen), choices[0] if choices else None)
    first = {"occurred_on": clock.today().isoformat(), "item_id": request.args.get("item_id", "")}  # "apply for this"
    return _apply_form(household, choices, errors or {}, form or first, proxy=False, status=status, kept=kept)


@bp.route("/apply", methods=["GET", "POST"])
@upload_form(lambda message: _self_page({"photos": [message]}, {}, 413)[0])  # the body was not read
def apply():
    """A villager applies for an award item for their household, with photos, on their phone."""
    if request.method == "GET":
        return _self_page()
    actor = current_actor()

    def work():
        form = request.form
        household_id = form.get("household_id") or next((str(h.id) for h in applications.applicant_households(actor)),
                                                        None)
        if household_id is None:
            return _self_page({"household_id": [_("Your account is not linked to a household.")]}, form, 422)
        app, errors = submit(applications.self_apply, actor, household_id, form.to_dict(), _photos(), _staged())
        if errors:
            return _self_page(errors, form, 422, _keep_photos(actor))
        return redirect(url_for("points_review.detail", application_id=app.id, done=1), 303)

    return once(work)


def _proxy_page(household_id, errors=None, form=None, status=200, kept=()):
    actor = current_actor()
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, "application.proxy", household)
    return _apply_form(household, [], errors or {}, form or {"occurred_on": clock.today().isoformat()}, proxy=True,
                       status=status, kept=kept)


@bp.route("/households/<uuid:household_id>/apply", methods=["GET", "POST"])
@upload_form(lambda message: _proxy_page(request.view_args["household_id"], {"photos": [message]}, {}, 413)[0])
def proxy(household_id):
    """代为申请: a grid worker or cadre files an application for a household (marked as proxy)."""
    if request.method == "GET":
        return _proxy_page(household_id)
    actor = current_actor()

    def work():
        form = request.form
        app, errors = submit(applications.proxy_apply, actor, household_id, form.to_dict(), _photos(), _staged())
        if errors:
            return _proxy_page(household_id, errors, form, 422, _keep_photos(actor))
        return redirect(url_for("points_review.detail", application_id=app.id, done=1), 303)

    return once(work)


@bp.get("/proxy")
def proxy_search():
    """Find the household to apply for: by name, pinyin or door plate, in the actor's area."""
    actor = current_actor()
    authorize(actor, "application.proxy")
    q = request.args.get("q", "")
    found = households.search_households(actor, q=q, per_page=30) if q.strip() else None
    rows = [r for r in found.items if may(actor, "application.proxy", r["household"])] if found else []
    return render_template("points/proxy_search.html", q=q, rows=rows, searched=found is not None,
                           may_record=may(actor, "application.record"))


# --- staff records -----------------------------------------------------------------------------------

def _record_page(household_id, errors=None, form=None, status=200, kept=()):
    actor = current_actor()
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, "application.record", household)
    groups = applications.items_for(household.village_id, household=False)
    return render_template("points/record.html", household=household, groups=groups, errors=errors or {},
                           form=form or {"occurred_on": clock.today().isoformat()}, once_key=new_key(),
                           max_photos=MAX_PHOTOS, today=clock.today(), kept=kept), status


@bp.route("/households/<uuid:household_id>/record", methods=["GET", "POST"])
@upload_form(lambda message: _record_page(request.view_args["household_id"], {"photos": [message]}, {}, 413)[0])
def record(household_id):
    """A staff record of observed conduct for one household: an award or a deduction."""
    if request.method == "GET":
        return _record_page(household_id)
    actor = current_actor()

    def work():
        form = request.form
        app, errors = submit(applications.record_conduct, actor, household_id, form.to_dict(), _photos(), _staged())
        if errors:
            return _record_page(household_id, errors, form, 422, _keep_photos(actor))
        return redirect(url_for("points_review.detail", application_id=app.id, done=1), 303)

    return once(work)


# --- batch sheets ------------------------------------------------------------------------------------

def _grid_households(actor, village_id, grid_node_id) -> list[Household]:
    """Active households of the village (or of the grid node's subtree) the actor may record for,
    in door-plate order."""
    page = households.search_households(actor, village_id=village_id, grid_node_id=grid_node_id or None,
                                        per_page=households.MAX_PER_PAGE)
    rows = [r["household"] for r in page.items if r["household"].status == ACTIVE
            and may(actor, "application.record", r["household"])]
    return sorted(rows, key=lambda h: (len(h.door_plate), h.door_plate))


def _batch_page(errors=None, form=None, status=200):
    actor = current_actor()
    authorize(actor, "application.record")
    form = form if form is not None else request.args
    villages = households.villages_for(actor)
    village_id = form.get("village_id") or (str(villages[0].id) if len(villages) == 1 else "")
    village = next((v for v in villages if str(v.id) == village_id), None)
    grid = households.grid_choices(actor, village.id) if village else []
    grid_node_id = form.get("grid_node_id") or ""
    if grid_node_id and not any(str(n.id) == grid_node_id for n, _label in grid):
        grid_node_id = ""
    groups = applications.items_for(village.id, household=False) if village else []
    rows = _grid_households(actor, village.id, grid_node_id) if village else []
    values = {k: form.get(k, "") for k in ("item_id", "title")}
    values["occurred_on"] = form.get("occurred_on") or clock.today().isoformat()
    return render_template("points/batch.html", villages=villages, village=village, grid=grid,
                           grid_node_id=grid_node_id, groups=groups, rows=rows, values=values, form=form,
                           errors=errors or {}, once_key=new_key(), today=clock.today()), status


def _batch_data(form) -> tuple[dict, list[str]]:
    """The service's input from the sheet: one row per household with a score; `order` maps a
    row's index in `rows` back to the household id for errors."""
    ids = form.getlist("household_id")
    rows, order = [], []
    for hid in ids:
        points = (form.get(f"points-{hid}") or "").strip()
        if points:
            rows.append({"household_id": hid, "points": points, "note": form.get(f"note-{hid}", "")})
            order.append(hid)
    data = {k: form.get(k, "") for k in ("item_id", "occurred_on", "title", "grid_node_id")}
    data["grid_node_id"] = data["grid_node_id"] or None
    return data | {"rows": rows}, order


def _row_errors(errors: dict, order: list[str]) -> dict:
    """`rows.3.points` becomes `points-<household id>`: each message next to its row's field."""
    out = {}
    for key, messages in errors.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "rows" and parts[1].isdigit() and int(parts[1]) < len(order):
            field = "points" if parts[2] in ("points", "household_id") else parts[2]
            out.setdefault(f"{field}-{order[int(parts[1])]}", []).extend(messages)
        else:
            out.setdefault(key, []).extend(messages)
    return out


@bp.route("/batch", methods=["GET", "POST"])
def batch():
    """A batch sheet: one item, one day, a score per household of a village or micro grid. All rows
    are written or none; an error is shown next to its row."""
    if request.method == "GET":
        return _batch_page()
    actor = current_actor()
    authorize(actor, "application.record")

    def work():
        data, order = _batch_data(request.form)
        result, errors = submit(applications.record_batch, actor, data)
        if errors:
            return _batch_page(_row_errors(errors, order), request.form, 422)
        return redirect(url_for("points_review.applications", batch_id=result.id), 303)

    try:
        return once(work)
    except (Invalid, InputConflict) as e:  # e.g. a row naming a household out of reach is 404, not this
        db.session.rollback()
        return _batch_page(e.errors, request.form, 422)
