"""Who may open a dashboard: the staff who lead (admins, cadres, panel members, grid workers), each
within their reach; not storekeepers, not villagers (a villager's own trend is on their home)."""
from __future__ import annotations

from jifen.platform.roles.authz import STAFF, Policy, register_policies

register_policies({
    "cockpit.view": Policy(STAFF, scoped=True),
})
