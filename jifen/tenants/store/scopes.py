"""A store lies in its village (if any); storekeepers are scoped to stores."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles.registry import register_scope_kind, register_scope_path
from jifen.tenants.store.models import Store


def store_choices() -> list[tuple]:
    stores = db.session.execute(select(Store).where(Store.active.is_(True))).scalars().all()
    return [(s.id, s.name) for s in sort_by_pinyin(stores, key=lambda s: s.name)]


register_scope_kind("store", _l("store"), Store, store_choices)
register_scope_path(Store, lambda s: {"store": {s.id}, "village": {s.village_id} if s.village_id else set()})
