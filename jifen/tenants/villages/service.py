"""Villages: list (pinyin order), create, rename. """
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import InputConflict, Invalid
from jifen.platform.input import Text, Whole, check
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action, authorize, scope_ids
from jifen.platform.tenancy import register_url_object, tenant_get_or_404
from jifen.tenants.villages import scopes  # noqa: F401 - registers the village and grid scope kinds
from jifen.tenants.villages.models import Village

register_url_object("village_id", Village)

MAX_NAME = 64  # Village.name's column
MAX_CODE = 32  # Village.code's column
MAX_ORDER = 1_000_000  # a sort order from -MAX_ORDER to MAX_ORDER


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
    """The village's fields: the input's own rules first (Invalid), then the names other villages
    already use (InputConflict)."""
    errors: dict = {}
    name = check(Text(MAX_NAME, required=True, required_message=_("Enter the village's name (at most 64 characters).")),
                 data.get("name"), "name", errors)
    code = check(Text(MAX_CODE, required=True, required_message=_("Enter the village code (at most 32 characters).")),
                 data.get("code"), "code", errors)
    order = check(Whole(-MAX_ORDER, MAX_ORDER), data.get("sort_order", village.sort_order if village else 0),
                  "sort_order", errors)
    Invalid.raise_if(errors)
    conflicts: dict = {}
    for field, value in (("name", name), ("code", code)):
        clash = db.session.execute(select(Village.id).where(getattr(Village, field) == value)).scalar()
        if clash and (village is None or clash != village.id):
            conflicts[field] = [_("Another village already uses this.")]
    InputConflict.raise_if(conflicts)
    return {"name": name, "code": code, "sort_order": order or 0}


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
