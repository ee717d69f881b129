"""Who may read the county cockpit (county.py): the county operator, for their own county's townships."""
from jifen.platform.roles.registry import OPERATOR, Policy, register_policies

register_policies({
    "cockpit.county": Policy(frozenset({OPERATOR})),
})
