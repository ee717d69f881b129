"""Township pages for the rulebook, village adoption and commitment signing."""
from __future__ import annotations

import uuid
from itertools import groupby

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform import clock
from jifen.platform.console import register_tile
from jifen.platform.db import parse_uuid
from jifen.platform.errors import NotFound
from jifen.platform.roles.authz import Actor, may, villager_only
from jifen.platform.web import current_actor, submit
from jifen.tenants.rulebook import adoption, service, signing
from jifen.tenants.rulebook.checks import STATUS_LABELS

bp = Blueprint("rulebook", __name__, url_prefix="/t/<tenant_slug>/rulebook")
register_tile("rulebook.index", _l("Rulebook"), "rulebook.view", order=50)
register_tile("rulebook.signing_report", _l("Commitment signing"), "commitment.report", order=55)

LABELS = {
    "direction": {"award": _l("Award"), "deduction": _l("Deduction")},
    "unit": {"occurrence": _l("per occurrence"), "day": _l("per day"), "month": _l("per month")},
    "cap_period": {"month": _l("per month"), "year": _l("per year")},
    "initiator": {"household": _l("Household may apply"), "staff": _l("Staff only")},
    "review": {"certification": _l("Certification panel"), "verification": _l("Verification only")},
    "status": STATUS_LABELS,
}


@bp.context_processor
def _labels():
    return {"LABELS": LABELS, "may": lambda action_name, target=None: may(current_actor(), action_name, target)}


def _arg_uuid(name: str) -> uuid.UUID | None:
    value = request.values.get(name)
    if not value:
        return None
    found = parse_uuid(value)
    if found is None:
        raise NotFound()
    return found


def _page() -> int:
    return request.args.get("page", 1, type=int) or 1


def _by_category(entries, item=lambda e: e) -> list[tuple]:
    """[(category, [entries])] in the rulebook's order (entries come sorted by category)."""
    categories = {c.id: c for c in service.list_categories(current_actor())}
    return [(categories[cid], list(group)) for cid, group in groupby(entries, key=lambda e: item(e).category_id)]


def _scan(field: str = "scan"):
    upload = request.files.get(field)
    return upload if upload and upload.filename else None


# --- the township rulebook -----------------------------------------------------------------------

@bp.get("/")
def index():
    actor = current_actor()
    return _index(actor, {}, {})


def _index(actor: Actor, errors: dict, form):
    versions, today = service.list_versions(actor), clock.today()
    adopted = service.adopted_version()
    if villager_only(actor):  # a villager reads the rules in force, not drafts or other villages' adoption
        return render_template("rulebook/index.html", versions=[], in_force=service.version_in_force(today),
                               upcoming=None, numbers={}, villages=[], errors=errors, form=form, drafts=[],
                               history=[], villager=True)
    return render_template("rulebook/index.html", versions=versions, in_force=service.version_in_force(today),
                           upcoming=adopted if adopted and adopted.adopted_on > today else None,
                           numbers={v.id: v.number for v in versions},
                           villages=adoption.village_overview(actor), errors=errors, form=form,
                           drafts=[v for v in versions if v.status == "draft"],
                           history=[v for v in versions if v.status != "draft"]), (422 if errors else 200)


@bp.post("/versions")
def create_version():
    actor = current_actor()
    version, errors = submit(service.create_version, actor, request.form.to_dict())
    if errors:
        return _index(actor, errors, request.form)
    return redirect(url_for("rulebook.version", version_id=version.id))


@bp.route("/categories", methods=["GET", "POST"])
def categories():
    actor, errors, failed = current_actor(), {}, None
    if request.method == "POST":
        _category, errors = submit(service.create_category, actor, request.form.to_dict())
        if not errors:
            return redirect(url_for("rulebook.categories"))
        failed = "new"
    return _categories(actor, errors, failed)


def _categories(actor: Actor, errors: dict, failed):
    return render_template("rulebook/categories.html", categories=service.list_categories(actor), errors=errors,
                           failed=failed, form=request.form, standard=service.STANDARD_CATEGORIES
                           ), (422 if errors else 200)


@bp.post("/categories/standard")
def standard_categories():
    submit(service.add_standard_categories, current_actor())
    return redirect(url_for("rulebook.categories"))


@bp.post("/categories/<uuid:category_id>")
def update_category(category_id):
    actor = current_actor()
    _category, errors = submit(service.update_category, actor, category_id, request.form.to_dict())
    if errors:
        return _categories(actor, errors, category_id)
    return redirect(url_for("rulebook.categories"))


@bp.route("/versions/<uuid:version_id>", methods=["GET", "POST"])
def version(version_id):
    actor, errors = current_actor(), {}
    if request.method == "POST":
        _version, errors = submit(service.update_version, actor, version_id, request.form.to_dict())
        if not errors:
            return redirect(url_for("rulebook.version", version_id=version_id))
    row = service.get_version(actor, version_id)
    groups = _by_category(service.version_items(actor, version_id))
    return render_template("rulebook/version.html", version=row, groups=groups, errors=errors,
                           form=request.form if errors else {"title": row.title}), (422 if errors else 200)


def _item_form(version, item, errors, form):
    return render_template("rulebook/item_form.html", version=version, item=item, errors=errors, form=form,
                           categories=service.list_categories(current_actor())), (422 if errors else 200)


@bp.route("/versions/<uuid:version_id>/items/new", methods=["GET", "POST"])
def create_item(version_id):
    actor, errors = current_actor(), {}
    row = service.get_version(actor, version_id)
    if request.method == "POST":
        _item, errors = submit(service.create_item, actor, version_id, request.form.to_dict())
        if not errors:
            return redirect(url_for("rulebook.version", version_id=version_id))
    return _item_form(row, None, errors, request.form)


@bp.route("/items/<uuid:item_id>", methods=["GET", "POST"])
def edit_item(item_id):
    actor, errors = current_actor(), {}
    item = service.get_item(actor, item_id)
    version = service.get_version(actor, item.version_id)
    if request.method == "GET" and version.status != "draft":  # read-only: nothing to edit
        return redirect(url_for("rulebook.version", version_id=version.id) + f"#item-{item.id}")
    form = request.form if request.method == "POST" else {k: getattr(item, k) for k in service.ITEM_FIELDS}
    if request.method == "POST":
        _item, errors = submit(service.update_item, actor, item_id, form.to_dict())
        if not errors:
            return redirect(url_for("rulebook.version", version_id=item.version_id))
    return _item_form(version, item, errors, form)


@bp.post("/items/<uuid:item_id>/delete")
def delete_item(item_id):
    actor = current_actor()
    version_id = service.get_item(actor, item_id).version_id
    submit(service.delete_item, actor, item_id)
    return redirect(url_for("rulebook.version", version_id=version_id))


@bp.post("/items/<uuid:item_id>/move")
def move_item(item_id):
    item, _errors = submit(service.move_item, current_actor(), item_id, request.form.get("to") == "up")
    return redirect(url_for("rulebook.version", version_id=item.version_id) + f"#item-{item.id}")


@bp.route("/versions/<uuid:version_id>/adopt", methods=["GET", "POST"])
def adopt_version(version_id):
    actor, errors = current_actor(), {}
    row = service.get_version(actor, version_id)
    if request.method == "POST":
        _version, errors = submit(service.adopt_version, actor, version_id, request.form.to_dict(), _scan())
        if not errors:
            return redirect(url_for("rulebook.version", version_id=version_id))
    return render_template("rulebook/adopt.html", subject=row, heading=_l("Adopt version %(n)s", n=row.number),
                           action=url_for("rulebook.adopt_version", version_id=version_id), errors=errors,
                           form=request.form), (422 if errors else 200)


# --- village adoption ----------------------------------------------------------------------------

@bp.route("/villages/<uuid:village_id>", methods=["GET", "POST"])
def village(village_id):
    actor, errors = current_actor(), {}
    if request.method == "POST":
        vr, errors = submit(adoption.start_village_rulebook, actor, village_id, request.form.to_dict())
        if not errors:
            return redirect(url_for("rulebook.village_rulebook", village_rulebook_id=vr.id))
    rulebooks = adoption.list_village_rulebooks(actor, village_id)
    return render_template("rulebook/village.html", village=adoption.get_village(actor, village_id),
                           rulebooks=rulebooks, versions={v.id: v for v in service.list_versions(actor)},
                           adopted=service.adopted_version(), errors=errors), (422 if errors else 200)


@bp.route("/village-rulebooks/<uuid:village_rulebook_id>", methods=["GET", "POST"])
def village_rulebook(village_rulebook_id):
    actor, errors = current_actor(), {}
    if request.method == "POST":
        rows = {key.removeprefix("points-"): {"points": value, "enabled": request.form.get(f"enabled-{key[7:]}", "")}
                for key, value in request.form.items() if key.startswith("points-")}
        _vr, errors = submit(adoption.set_village_items, actor, village_rulebook_id, rows)
        if not errors:  # "save and adopt" saves first, so no change is lost on the way to the resolution
            then = "rulebook.adopt_village_rulebook" if request.form.get("then") == "adopt" else "rulebook.village_rulebook"
            return redirect(url_for(then, village_rulebook_id=village_rulebook_id))
    vr = adoption.get_village_rulebook(actor, village_rulebook_id)
    groups = _by_category(adoption.village_items(actor, village_rulebook_id), lambda e: e.item)
    return render_template("rulebook/village_rulebook.html", vr=vr, errors=errors, form=request.form, groups=groups,
                           version=service.get_version(actor, vr.version_id),
                           village=adoption.get_village(actor, vr.village_id)), (422 if errors else 200)


@bp.route("/village-rulebooks/<uuid:village_rulebook_id>/adopt", methods=["GET", "POST"])
def adopt_village_rulebook(village_rulebook_id):
    actor, errors = current_actor(), {}
    vr = adoption.managed_village_rulebook(actor, village_rulebook_id)
    if request.method == "POST":
        _vr, errors = submit(adoption.adopt_village_rulebook, actor, village_rulebook_id, request.form.to_dict(),
                             _scan())
        if not errors:
            return redirect(url_for("rulebook.village_rulebook", village_rulebook_id=village_rulebook_id))
    village_name = adoption.get_village(actor, vr.village_id).name
    return render_template("rulebook/adopt.html", subject=vr, heading=_l("Adopt the rulebook of %(village)s",
                                                                         village=village_name),
                           action=url_for("rulebook.adopt_village_rulebook", village_rulebook_id=village_rulebook_id),
                           errors=errors, form=request.form), (422 if errors else 200)


# --- commitment signing --------------------------------------------------------------------------

@bp.route("/village-rulebooks/<uuid:village_rulebook_id>/signing", methods=["GET", "POST"])
def signing_bulk(village_rulebook_id):
    """Tick the households of a grid that signed on one day."""
    actor, errors = current_actor(), {}
    node_id = _arg_uuid("grid_node_id")
    vr = signing.rulebook_to_sign(actor, village_rulebook_id)
    if request.method == "POST":
        done, errors = submit(signing.record_signatures, actor, village_rulebook_id,
                              request.form.getlist("household_ids"), request.form.to_dict())
        if not errors:
            return redirect(url_for("rulebook.signing_bulk", village_rulebook_id=village_rulebook_id,
                                    grid_node_id=node_id, signed=len(done)))
    page = signing.households_to_sign(actor, village_rulebook_id, node_id, _page())
    nodes = signing.nodes_in_scope(actor, "commitment.record", vr.village_id)
    form = request.form if errors else {"signed_on": clock.today().isoformat(),
                                        "witness_name": request.form.get("witness_name", "")}
    return render_template("rulebook/signing.html", vr=vr, page=page, nodes=nodes, node_id=node_id, errors=errors,
                           form=form, signed=request.args.get("signed", type=int),
                           ticked=set(request.form.getlist("household_ids")),
                           village=adoption.get_village(actor, vr.village_id)), (422 if errors else 200)


@bp.route("/village-rulebooks/<uuid:village_rulebook_id>/sign", methods=["GET", "POST"])
def sign_one(village_rulebook_id):
    actor, errors = current_actor(), {}
    household_id = _arg_uuid("household_id")
    vr, household, members = signing.signing_household(actor, village_rulebook_id, household_id)
    if request.method == "POST":
        _signature, errors = submit(signing.record_signature, actor, village_rulebook_id,
                                    request.form.to_dict() | {"household_id": household_id}, _scan())
        if not errors:
            return redirect(url_for("rulebook.signing_bulk", village_rulebook_id=village_rulebook_id,
                                    grid_node_id=request.args.get("grid_node_id") or None))
    form = request.form if errors else {"signed_on": clock.today().isoformat(), "signer_name": household.head_name}
    return render_template("rulebook/sign_one.html", vr=vr, household=household, members=members, errors=errors,
                           form=form), (422 if errors else 200)


@bp.get("/signing-report")
def signing_report():
    actor = current_actor()
    village_id, node_id = _arg_uuid("village_id"), _arg_uuid("grid_node_id")
    report = signing.signing_report(actor, village_id)
    unsigned = signing.unsigned_households(actor, village_id, node_id, _page())
    villages = adoption.village_overview(actor)
    return render_template("rulebook/report.html", report=report, unsigned=unsigned, village_id=village_id,
                           node_id=node_id, villages=villages, village_names={v.id: v.name for v, _a, _d in villages},
                           node_names={r.node.id: r.node.name for r in report.nodes})
