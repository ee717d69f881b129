"""Who may see and review integrity signals. Not grid workers (they verify, so they are among those
the signals look at) and never villagers."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, Policy, register_policies

VIEWERS = ADMIN | {"village_admin", "area_cadre", "panel_member"}

register_policies({
    "integrity.list": Policy(VIEWERS, scoped=True),
    "integrity.view": Policy(VIEWERS, scoped=True),
    "integrity.review": Policy(ADMIN | {"panel_member"}, scoped=True),
})
