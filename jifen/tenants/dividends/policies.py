"""Who may do each action of dividends."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, Policy, register_policies

register_policies({
    "dividend.manage": Policy(ADMIN | {"village_admin"}, scoped=True),
    "dividend.view": Policy(ADMIN | {"village_admin", "panel_member"}, scoped=True),
    "dividend.simulate": Policy(ADMIN | {"village_admin"}, scoped=True),
    "dividend.approve": Policy(ADMIN),
    "dividend.pay": Policy(ADMIN),
})
