"""What the star, honour and recommendation services share: reading input, periods, villages in
reach, the scope of a whole village, names in the reader's language."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.errors import InputConflict, Invalid
from jifen.platform.input import FIRST_YEAR, Period, Text, Uuid, Whole, check, value
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, may
from jifen.platform.roles.registry import register_scope_path, register_scope_where
from jifen.platform.tenancy import tenant_get
from jifen.tenants.points.ledger import period_of
from jifen.tenants.villages.models import Village
from jifen.tenants.villages.scopes import village_area_path, village_area_where

FIRST_PERIOD = FIRST_YEAR


@dataclass(frozen=True)
class VillageArea:
    """A whole village as a target of authorization: its village staff and the grid workers of
    any grid in it reach it (like a notice or an activity)."""

    village_id: uuid.UUID


register_scope_path(VillageArea, lambda a: village_area_path(a.village_id))
register_scope_where(VillageArea, village_area_where(Village.id))  # as SQL on the villages table


def current_period() -> int:
    return period_of(clock.today())


def parse_period(raw, field: str = "period") -> int:
    """A period (calendar year) up to this one from a form, query string or JSON; this year when
    empty. Outside Period's bounds (the API document's) it is Invalid; a year after this one is
    refused as InputConflict (the date decides), with the same message."""
    year = value(Period(), raw, field)
    if year is None:
        return current_period()
    if year > current_period():
        raise InputConflict.field(field, _("Give a year between %(first)d and %(last)d.", first=FIRST_PERIOD,
                                           last=current_period()))
    return year


def text(data: dict, name: str, limit: int, errors: dict, required: bool = False, current: str = "") -> str:
    """The honours forms' text fields (the key left out keeps `current`), checked by the one Text field."""
    return check(Text(limit, required=required), data.get(name, current), name, errors)


def optional_int(data: dict, name: str, errors: dict, low: int, high: int, current=None) -> int | None:
    """A whole number within low..high, or None when left empty."""
    return check(Whole(low, high), data.get(name, current), name, errors)


def flag(data: dict, name: str, current: bool) -> bool:
    value = data.get(name, current)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(value)


def english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


def localized(name_zh: str, name_en: str) -> str:
    """A township-defined name in the reader's language (the Chinese one when no English is given)."""
    return (name_en or name_zh) if english() else name_zh


def village_or_invalid(village_id, field: str = "village_id") -> Village:
    """The village named: none named is Invalid, one that is not the township's an InputConflict."""
    ident = value(Uuid(_("Choose a village.")), village_id, field)
    if ident is None:
        raise Invalid.field(field, _("Choose a village."))
    village = tenant_get(Village, ident)
    if village is None:
        raise InputConflict.field(field, _("Choose a village."))
    return village


def villages_in_reach(actor: Actor, action_name: str) -> list[Village]:
    """Villages whose whole-village pages the actor reaches for `action_name`, in pinyin order:
    every village for township-wide roles, else the villages of their village grants and of their
    grid nodes (a villager's household grant reaches their household, not the whole village)."""
    query = reach.filtered(select(Village), actor, action_name, VillageArea)
    return sort_by_pinyin(db.session.execute(query).scalars().all(), key=lambda v: v.name)


def may_village(actor: Actor, action_name: str, village_id) -> bool:
    return may(actor, action_name, VillageArea(village_id))


def stars_text(n: int) -> str:
    """★★★☆☆ for 3 of 5."""
    n = max(0, min(5, int(n or 0)))
    return "★" * n + "☆" * (5 - n)
