"""A store lies in its village (if any); storekeepers are scoped to stores."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from jifen.platform.roles.registry import register_scope_kind, register_scope_path
from jifen.tenants.store.models import Store

register_scope_kind("store", _l("store"), Store)
register_scope_path(Store, lambda s: {"store": {s.id}, "village": {s.village_id} if s.village_id else set()})
