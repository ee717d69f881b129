"""Who may do each action of applications and their judging (state steps: workflow.py), public notices and objections, the ledger, period close."""
from __future__ import annotations

from jifen.platform.roles.authz import ADMIN, STAFF, WORK_TEAM, Policy, register_policies

register_policies({
    "application.self_apply": Policy(frozenset({"villager"}), scoped=True),
    "application.proxy": Policy(WORK_TEAM | {"village_admin"}, scoped=True),
    "application.record": Policy(WORK_TEAM | {"village_admin"}, scoped=True),
    "application.list": Policy(STAFF | {"villager"}, scoped=True),
    "application.view": Policy(STAFF | {"villager"}, scoped=True),
    "application.confirm": Policy(frozenset({"villager"}), scoped=True),
    "application.withdraw": Policy(frozenset({"villager"}), scoped=True),
    "application.verify": Policy(WORK_TEAM, scoped=True),
    "application.certify": Policy(frozenset({"panel_member"}), scoped=True),
    "field.capture": Policy(frozenset({"grid_worker"}), scoped=True),  # offline capture: the grid's households
    "points_settings.manage": Policy(ADMIN),
    "notice.list": Policy(STAFF, scoped=True),
    "notice.view": Policy(STAFF, scoped=True),
    "notice.publish": Policy(ADMIN | {"village_admin", "panel_member"}, scoped=True),
    "notice.object": Policy(frozenset({"villager"}), scoped=True),
    "objection.decide": Policy(frozenset({"panel_member"}), scoped=True),
    "ledger.view": Policy(STAFF | {"villager"}, scoped=True),
    "ledger.correct": Policy(ADMIN),
    "ledger.check": Policy(ADMIN),
    "period.close": Policy(ADMIN),
    "period.view": Policy(STAFF),
})
