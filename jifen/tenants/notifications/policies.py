"""Who may do each action of the inbox, notification preferences and delivery."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, Policy, register_policies

register_policies({
    "inbox.view": Policy(frozenset({"villager"}), scoped=True),
    "notification_prefs.manage": Policy(ADMIN | {"village_admin", "grid_worker", "villager"}, scoped=True),
    "delivery.view": Policy(ADMIN),
    "delivery.retry": Policy(ADMIN),
})
