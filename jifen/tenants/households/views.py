"""Township pages for households and residents: search, the household page, forms for members,
splits, merges, status, and the township's tags. Views parse forms and render; the rules are in
`service`."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.roles.authz import authorize, may
from jifen.platform.roles.registry import VILLAGER
from jifen.platform.staff import service as staff
from jifen.platform.townships.links import setup_url
from jifen.platform.web import current_actor, submit
from jifen.tenants.households import service
from jifen.tenants.households.models import ACTIVE, RELATIONS, STATUSES

bp = Blueprint("households", __name__, url_prefix="/t/<tenant_slug>/households")
register_tile("households.index", _l("Households"), "household.list", order=30)

MEMBER_KEY = re.compile(r"^members\.(\d{1,2})\.(name|relation|phone|id_number)$")
DEFAULT_ROWS, MAX_ROWS = 4, 20


def _render(template: str, errors=None, **context):
    context.setdefault("errors", errors or {})
    return (render_template(template, RELATION_CHOICES=[(r, service.RELATION_LABELS[r]) for r in RELATIONS],
                            RELATION_LABELS=service.RELATION_LABELS, STATUS_LABELS=service.STATUS_LABELS, may=may, actor=current_actor(), **context),
            422 if errors else 200)


# --- search ------------------------------------------------------------------------------------

@bp.route("/")
def index():
    actor, args = current_actor(), request.args
    filters = {"q": args.get("q", ""), "village_id": args.get("village_id") or None,
               "grid_node_id": args.get("grid_node_id") or None, "tag": args.get("tag") or None,
               "status": args.get("status") or ACTIVE}
    result = service.search_households(actor, **filters, page=args.get("page", 1, type=int), per_page=20)
    roster = "roster.index" in current_app.view_functions and may(actor, "household.import")

    def page_url(n: int) -> str:
        return url_for("households.index", **(args.to_dict() | {"page": n}))

    return _render("households/index.html", result=result, filters=filters, page_url=page_url,
                   villages=service.villages_for(actor), tags=service.all_tags(), statuses=STATUSES,
                   grid=service.grid_choices(actor, filters["village_id"]) if filters["village_id"] else [],
                   roster_url=url_for("roster.index") if roster else None)


# --- one household -----------------------------------------------------------------------------

@bp.route("/<uuid:household_id>")
def detail(household_id):
    return _account_page(household_id, {}, {})


@bp.post("/<uuid:household_id>/identity")
def show_identity(household_id):
    """The household page with its members' full ID numbers: an explicit, audited "show" (403 for
    those who may not see them)."""
    return _account_page(household_id, {}, {}, reveal=True)


def _account_page(household_id, errors: dict, form, reveal: bool = False):
    """The household page; for township admins also its villager accounts and a form to add one."""
    actor = current_actor()
    h = service.household_detail(actor, household_id, reveal=reveal)
    accounts = staff.holders(VILLAGER, household_id) if may(actor, "staff.invite") else None
    from jifen.tenants.points import entries  # the household's points, for those who may see them
    balances = entries.balances(actor, household_id) if may(actor, "ledger.view", h["household"]) else None
    return _render("households/detail.html", errors, h=h, accounts=accounts, balances=balances,
                   form=form or {"display_name": h["head_name"]})


@bp.post("/<uuid:household_id>/accounts")
def add_account(household_id):
    """A villager account for this household (it will see the household's points and apply)."""
    actor = current_actor()
    service.household_detail(actor, household_id)  # in scope, else 404
    form = request.form.to_dict()
    invited, errors = submit(staff.invite, actor, {
        "username": form.get("username", ""), "display_name": form.get("display_name", ""),
        "roles": [{"role": VILLAGER, "scope_ids": [household_id]}]})
    if errors:
        return _account_page(household_id, errors, form)
    user, secret = invited
    return render_template("staff/invited.html", user=user,
                           link=setup_url(g.tenant_slug, secret))


def _member_rows(form) -> list:
    """members.<i>.<field> inputs -> a list by row; a row with nothing but a relation is None."""
    rows: dict = {}
    for key in form:
        m = MEMBER_KEY.match(key)
        if m and int(m[1]) < MAX_ROWS:
            rows.setdefault(int(m[1]), {})[m[2]] = form.get(key, "")
    out = []
    for i in range(max(rows, default=-1) + 1):
        row = rows.get(i, {})
        out.append(row if any(v.strip() for k, v in row.items() if k != "relation") else None)
    return out


def _place_form(form) -> dict:
    return {"village_id": form.get("village_id", ""), "grid_node_id": form.get("grid_node_id", ""),
            "door_plate": form.get("door_plate", ""), "note": form.get("note", ""), "tags": form.getlist("tags")}


def _form_choices(actor) -> dict:
    return {"village_options": [(v.id, v.name) for v in service.villages_for(actor)],
            "micro": service.grid_choices(actor, micro_only=True), "tags": service.all_tags()}


@bp.route("/new", methods=["GET", "POST"])
def create():
    actor, errors, form = current_actor(), {}, request.form
    authorize(actor, "household.create")
    if request.method == "POST":
        data = _place_form(form) | {"members": _member_rows(form)}
        household, errors = submit(service.create_household, actor, data)
        if not errors:
            return redirect(url_for("households.detail", household_id=household.id))
        rows = max(len(data["members"]), DEFAULT_ROWS)
    else:
        rows = min(MAX_ROWS, max(DEFAULT_ROWS, request.args.get("rows", DEFAULT_ROWS, type=int)))
    return _render("households/new.html", errors, form=form, rows=rows, chosen_tags=form.getlist("tags"),
                   **_form_choices(actor))


@bp.route("/<uuid:household_id>/edit", methods=["GET", "POST"])
def edit(household_id):
    actor, errors = current_actor(), {}
    household = service.get_household(actor, household_id)
    authorize(actor, "household.update", household)
    if request.method == "POST":
        form = request.form
        _household, errors = submit(service.update_household, actor, household_id, _place_form(form))
        if not errors:
            return redirect(url_for("households.detail", household_id=household_id))
        chosen = form.getlist("tags")
    else:
        form = {"village_id": str(household.village_id), "grid_node_id": str(household.grid_node_id),
                "door_plate": household.door_plate, "note": household.note}
        chosen = service.tag_codes(household.id)
    return _render("households/edit.html", errors, household=household, form=form, chosen_tags=chosen,
                   **_form_choices(actor))


# --- members -----------------------------------------------------------------------------------

MEMBER_FIELDS = ("name", "relation", "phone", "id_number")


@bp.route("/<uuid:household_id>/members/new", methods=["GET", "POST"])
def add_member(household_id):
    actor, errors, form = current_actor(), {}, request.form
    household = service.get_household(actor, household_id)
    authorize(actor, "household.update", household)
    if request.method == "POST":
        _resident, errors = submit(service.add_member, actor, household_id,
                                   {k: form.get(k, "") for k in MEMBER_FIELDS})
        if not errors:
            return redirect(url_for("households.detail", household_id=household_id))
    return _render("households/member.html", errors, household=household, resident=None, form=form,
                   reveal=True, reveal_phone=True, masked={})


@bp.route("/<uuid:household_id>/members/<uuid:resident_id>", methods=["GET", "POST"])
def edit_member(household_id, resident_id):
    """Those who may not see ID numbers and phones get them masked as hints: an empty box keeps
    the stored number (it was never sent to them to send back)."""
    actor, errors = current_actor(), {}
    household = service.get_household(actor, household_id)
    authorize(actor, "household.update", household)
    resident = service.member_of(household, resident_id)
    phones = service.can_see_phones(actor, household)
    shown = service.present_member(resident, False, phones)
    if request.method == "POST":
        form = request.form
        data = {k: form.get(k, "") for k in (*MEMBER_FIELDS, "previous_head_relation")}
        hidden = ("id_number",) if phones else ("phone", "id_number")
        # a hidden value: an empty box keeps it, its "remove" box clears it
        data = {k: v for k, v in data.items() if v.strip() or k not in hidden or form.get(f"clear_{k}")}
        _resident, errors = submit(service.update_member, actor, household_id, resident_id, data)
        if not errors:
            return redirect(url_for("households.detail", household_id=household_id))
    else:
        form = _member_form(resident, shown, phones)
    return _render("households/member.html", errors, household=household, resident=resident, form=form,
                   reveal=False, reveal_phone=phones, masked=shown)


def _member_form(resident, shown: dict, phones: bool) -> dict:
    """The edit form's first values: the ID number is never sent (its mask is the hint; an empty box
    keeps it), the phone only to those who see phones."""
    return {"name": resident.name, "relation": resident.relation} | ({"phone": shown["phone"]} if phones else {})


@bp.route("/<uuid:household_id>/members/<uuid:resident_id>/leave", methods=["POST"])
def member_leaves(household_id, resident_id):
    actor = current_actor()
    _resident, errors = submit(service.member_leaves, actor, household_id, resident_id,
                               {"left_on": request.form.get("left_on") or None})
    if errors:
        household = service.get_household(actor, household_id)
        resident = service.member_of(household, resident_id)
        phones = service.can_see_phones(actor, household)
        shown = service.present_member(resident, False, phones)
        return _render("households/member.html", errors, household=household, resident=resident,
                       form=_member_form(resident, shown, phones), reveal=False, reveal_phone=phones, masked=shown)
    return redirect(url_for("households.detail", household_id=household_id))


# --- split, merge, status ----------------------------------------------------------------------

def _moves_form(form, chosen: list[str]) -> list[dict]:
    return [{"resident_id": rid, "relation": form.get(f"relation-{rid}", "")} for rid in chosen]


def _row_errors(errors: dict, chosen: list[str]) -> dict:
    """The service names members.<i>.<field> by position in what was sent; the form shows them on
    each member's row (move-<id>, relation-<id>)."""
    out = {}
    for key, messages in errors.items():
        m = re.match(r"^members\.(\d+)\.(resident_id|relation)$", key)
        if m and int(m[1]) < len(chosen):
            out[("move-" if m[2] == "resident_id" else "relation-") + chosen[int(m[1])]] = messages
        else:
            out[key] = messages
    return out


@bp.route("/<uuid:household_id>/split", methods=["GET", "POST"])
def split(household_id):
    actor, errors, form = current_actor(), {}, request.form
    household = service.get_household(actor, household_id)
    authorize(actor, "household.split", household)
    chosen = form.getlist("move")
    if request.method == "POST":
        data = {"members": _moves_form(form, chosen), "door_plate": form.get("door_plate", ""),
                "grid_node_id": form.get("grid_node_id", ""), "note": form.get("note", "")}
        new, errors = submit(service.split_household, actor, household_id, data)
        if not errors:
            return redirect(url_for("households.detail", household_id=new.id))
        errors = _row_errors(errors, chosen)
    return _render("households/split.html", errors, household=household, form=form, chosen=chosen,
                   members=service.current_members(household.id),
                   micro=service.grid_choices(actor, household.village_id, micro_only=True))


@bp.route("/<uuid:household_id>/merge", methods=["GET", "POST"])
def merge(household_id):
    actor, errors = current_actor(), {}
    household = service.get_household(actor, household_id)
    authorize(actor, "household.merge", household)
    members = service.current_members(household.id)
    q = (request.form.get("q") if request.method == "POST" else request.args.get("q")) or ""
    if request.method == "POST":
        ids = [str(r.id) for r in members]
        data = {"into_household_id": request.form.get("into_household_id", ""),
                "members": _moves_form(request.form, ids)}
        target, errors = submit(service.merge_household, actor, household_id, data)
        if not errors:
            return redirect(url_for("households.detail", household_id=target.id))
        errors = _row_errors(errors, ids)
    candidates = []
    if q.strip():
        found = service.search_households(actor, q=q, per_page=10).items
        candidates = [c for c in found if c["id"] != household.id]
    return _render("households/merge.html", errors, household=household, members=members, q=q,
                   candidates=candidates, form=request.form)


@bp.route("/<uuid:household_id>/status", methods=["GET", "POST"])
def status(household_id):
    actor, errors, form = current_actor(), {}, request.form
    household = service.get_household(actor, household_id)
    authorize(actor, "household.update", household)
    if request.method == "POST":
        _household, errors = submit(service.set_status, actor, household_id,
                                    {"status": form.get("status", ""), "reason": form.get("reason", "")})
        if not errors:
            return redirect(url_for("households.detail", household_id=household_id))
    options = [(s, service.STATUS_LABELS[s]) for s in service.SETTABLE_STATUSES if s != household.status]
    return _render("households/status.html", errors, household=household, form=form, options=options)


# --- tags --------------------------------------------------------------------------------------

@bp.route("/tags", methods=["GET", "POST"])
def tags():
    actor, errors, form = current_actor(), {}, request.form
    authorize(actor, "household_tag.manage")
    if request.method == "POST":
        _tag, errors = submit(service.create_tag, actor, {"name_zh": form.get("name_zh", ""),
                                                          "name_en": form.get("name_en", "")})
        if not errors:
            return redirect(url_for("households.tags"))
    return _render("households/tags.html", errors, tags=service.all_tags(), form=form, tag=None)


@bp.route("/tags/<uuid:tag_id>", methods=["GET", "POST"])
def rename_tag(tag_id):
    actor, errors = current_actor(), {}
    authorize(actor, "household_tag.manage")
    tag = next(t for t in service.all_tags() if t.id == tag_id)
    form = request.form if request.method == "POST" else {"name_zh": tag.name_zh, "name_en": tag.name_en}
    if request.method == "POST":
        _tag, errors = submit(service.rename_tag, actor, tag_id, {"name_zh": form.get("name_zh", ""),
                                                                  "name_en": form.get("name_en", "")})
        if not errors:
            return redirect(url_for("households.tags"))
    return _render("households/tags.html", errors, tags=service.all_tags(), form=form, tag=tag)
