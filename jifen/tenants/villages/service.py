"""Villages: list (pinyin order), create, rename. """
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Invalid
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action, authorize, scope_ids
from jifen.platform.tenancy import register_url_object, tenant_get_or_404
from jifen.tenants.villages import scopes  # noqa: F401 - registers the village and grid scope kinds
from jifen.tenants.villages.models import Village

register_url_object("village_id", Village)


def _snapshot(v: Village) -> dict:
    return {"name": v.name, "code": v.code, "sort_order": v.sort_order}


@action("village.list")
def list_villages(actor: Actor) -> list[Village]:
    villages = db.session.execute(select(Village)).scalars().all()
    return sorted(villages, key=lambda v: pinyin_key(v.name))


@action("village.view")
def get_village(actor: Actor, village_id) -> Village:
    village = tenant_get_or_404(Village, village_id)
    authorize(actor, "village.view", village)
    return village


def _check(data: dict, village: Village | None = None) -> dict:
    errors = {}
    name = (data.get("name") or "").strip()
    code = (data.get("code") or "").strip()
    if not name or len(name) > 64:
        errors["name"] = [_("Enter the village's name (at most 64 characters).")]
    if not code or len(code) > 32:
        errors["code"] = [_("Enter the village code (at most 32 characters).")]
    for field, value in (("name", name), ("code", code)):
        clash = db.session.execute(select(Village.id).where(getattr(Village, field) == value)).scalar()
        if value and clash and (village is None or clash != village.id):
            errors[field] = [_("Another village already uses this.")]
    order = data.get("sort_order", village.sort_order if village else 0)
    try:
        order = int(order or 0)
    except (TypeError, ValueError):
        errors["sort_order"] = [_("Enter a whole number.")]
    if errors:
        raise Invalid(_("Please correct the marked fields."), errors)
    return {"name": name, "code": code, "sort_order": order}


@action("village.create")
def create_village(actor: Actor, data: dict) -> Village:
    village = Village(**_check(data))
    db.session.add(village)
    db.session.flush()
    record(actor, "village.create", village, after=_snapshot(village))
    return village


@action("village.update")
def update_village(actor: Actor, village_id, data: dict) -> Village:
    village = tenant_get_or_404(Village, village_id)
    authorize(actor, "village.update", village)
    before = _snapshot(village)
    for k, v in _check(data, village).items():
        setattr(village, k, v)
    record(actor, "village.update", village, before=before, after=_snapshot(village))
    return village


def villages_in_scope(actor: Actor) -> set | None:
    """Village ids the actor's village-scoped grants reach (None: all)."""
    return scope_ids(actor, "village.view", "village")
