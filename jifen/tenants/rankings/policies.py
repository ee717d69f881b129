"""Who may do each action of the nightly ranking."""
from __future__ import annotations

from jifen.platform.roles.authz import ALL_ROLES, Policy, register_policies

register_policies({
    "ranking.view": Policy(ALL_ROLES, scoped=True),
    # full names in a ranking: staff reaching it; a villager (in only through their own household)
    # sees other households' names masked, like on public notices
    "ranking.full_names": Policy(ALL_ROLES - {"villager"}, scoped=True, check_only=True),
})
