"""Who may do each action of activities."""
from __future__ import annotations

from jifen.platform.roles.authz import STAFF, WORK_TEAM, Policy, register_policies

register_policies({
    "activity.list": Policy(STAFF | {"villager"}, scoped=True),
    "activity.view": Policy(STAFF | {"villager"}, scoped=True),
    "activity.manage": Policy(WORK_TEAM | {"village_admin"}, scoped=True),
    "activity.signup": Policy(frozenset({"villager"}), scoped=True, check_only=True),  # for the household signed up
    "activity.checkin": Policy(frozenset({"villager"}), scoped=True),
    "activity.report": Policy(STAFF, scoped=True),
})
