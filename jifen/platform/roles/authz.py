"""Authorization at the service boundary, in one place (after CKAN's action/auth pairing).

Every service function is declared with `@action(name)`; `POLICIES[name]` says which roles may call
it and whether their scope must contain the target. The API, pages, CLI and workers all call the
same service functions, so they share this check. `authorize()` is the only place it is decided.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import wraps
from typing import Callable

from flask_babel import gettext as _

from jifen.platform.errors import Forbidden, NotFound
from jifen.platform.roles.registry import ROLES, TOWNSHIP_ADMIN, scope_path

ALL_ROLES = frozenset(ROLES)
ADMIN = frozenset({TOWNSHIP_ADMIN})
STAFF = ADMIN | {"village_admin", "area_cadre", "grid_worker", "panel_member"}  # who works with households
WORK_TEAM = ADMIN | {"area_cadre", "grid_worker"}  # 积分工作队: gathers and verifies
OPERATOR = "operator"
SELF = "self"  # any signed-in user of the tenant, acting on their own account


@dataclass(frozen=True)
class Policy:
    roles: frozenset  # role names, or {OPERATOR}, or {SELF}
    scoped: bool = False  # the actor's scope must contain the target object


POLICIES: dict[str, Policy] = {
    # county console
    "township.onboard": Policy(frozenset({OPERATOR})),
    "township.list": Policy(frozenset({OPERATOR})),
    "township.view": Policy(frozenset({OPERATOR})),
    "township.suspend": Policy(frozenset({OPERATOR})),
    "township.reactivate": Policy(frozenset({OPERATOR})),
    "township.new_setup_link": Policy(frozenset({OPERATOR})),
    # staff and roles
    "staff.list": Policy(ADMIN),
    "staff.view": Policy(ADMIN),
    "staff.invite": Policy(ADMIN),
    "staff.set_roles": Policy(ADMIN),
    "staff.disable": Policy(ADMIN),
    "staff.enable": Policy(ADMIN),
    "staff.new_setup_link": Policy(ADMIN),
    # villages
    "village.list": Policy(ALL_ROLES),
    "village.view": Policy(ADMIN | {"village_admin", "area_cadre", "panel_member"}, scoped=True),
    "village.create": Policy(ADMIN),
    "village.update": Policy(ADMIN | {"village_admin"}, scoped=True),
    # village groups and the grid (scoped: a grid worker's scope is the subtree of their nodes)
    "village_group.list": Policy(ALL_ROLES),
    "village_group.manage": Policy(ADMIN | {"village_admin"}, scoped=True),
    "grid.view": Policy(STAFF, scoped=True),
    "grid.manage": Policy(ADMIN),
    # households and residents
    "household.list": Policy(STAFF | {"villager"}, scoped=True),
    "household.view": Policy(STAFF | {"villager"}, scoped=True),
    "household.create": Policy(ADMIN | {"village_admin", "grid_worker"}, scoped=True),
    "household.update": Policy(ADMIN | {"village_admin", "grid_worker"}, scoped=True),
    "household.split": Policy(ADMIN | {"village_admin"}, scoped=True),
    "household.merge": Policy(ADMIN | {"village_admin"}, scoped=True),
    "household.view_id_numbers": Policy(ADMIN | {"village_admin"}, scoped=True),
    "household.import": Policy(ADMIN | {"village_admin"}, scoped=True),
    "household.export": Policy(ADMIN | {"village_admin"}, scoped=True),
    "household_tag.manage": Policy(ADMIN),
    # rulebook
    "rulebook.view": Policy(ALL_ROLES),
    "rulebook.manage": Policy(ADMIN),
    "village_rulebook.manage": Policy(ADMIN | {"village_admin"}, scoped=True),
    "commitment.record": Policy(ADMIN | {"village_admin", "grid_worker"}, scoped=True),
    "commitment.report": Policy(STAFF, scoped=True),
    # stores and catalog
    "store.list": Policy(ALL_ROLES),
    "store.manage": Policy(ADMIN),
    "catalog.manage": Policy(ADMIN),
    "stock.view": Policy(ADMIN | {"village_admin", "storekeeper"}, scoped=True),
    "stock.move": Policy(ADMIN | {"storekeeper"}, scoped=True),
    # points: applications and their judging (state steps: tenants/points/workflow.py)
    "application.self_apply": Policy(frozenset({"villager"}), scoped=True),
    "application.proxy": Policy(WORK_TEAM | {"village_admin"}, scoped=True),
    "application.record": Policy(WORK_TEAM | {"village_admin"}, scoped=True),
    "application.list": Policy(STAFF | {"villager"}, scoped=True),
    "application.view": Policy(STAFF | {"villager"}, scoped=True),
    "application.confirm": Policy(frozenset({"villager"}), scoped=True),
    "application.withdraw": Policy(frozenset({"villager"}), scoped=True),
    "application.verify": Policy(WORK_TEAM, scoped=True),
    "application.certify": Policy(frozenset({"panel_member"}), scoped=True),
    "points_settings.manage": Policy(ADMIN),
    # public notices and objections
    "notice.list": Policy(STAFF, scoped=True),
    "notice.view": Policy(STAFF, scoped=True),
    "notice.publish": Policy(ADMIN | {"village_admin", "panel_member"}, scoped=True),
    "notice.object": Policy(frozenset({"villager"}), scoped=True),
    "objection.decide": Policy(frozenset({"panel_member"}), scoped=True),
    # the ledger
    "ledger.view": Policy(STAFF | {"villager"}, scoped=True),
    "ledger.correct": Policy(ADMIN),
    "ledger.check": Policy(ADMIN),
    "inbox.view": Policy(frozenset({"villager"}), scoped=True),
    # activities
    "activity.list": Policy(STAFF | {"villager"}, scoped=True),
    "activity.view": Policy(STAFF | {"villager"}, scoped=True),
    "activity.manage": Policy(WORK_TEAM | {"village_admin"}, scoped=True),
    "activity.signup": Policy(frozenset({"villager"}), scoped=True),
    "activity.checkin": Policy(frozenset({"villager"}), scoped=True),
    "activity.report": Policy(STAFF, scoped=True),
    # --- issue 5: rewards and the workers (each block belongs to one area) ---
    # store orders (redemption): a villager orders for their household, a storekeeper at the counter
    "order.place": Policy(ADMIN | {"storekeeper", "villager"}, scoped=True),
    "order.list": Policy(ADMIN | {"village_admin", "storekeeper", "villager"}, scoped=True),
    "order.view": Policy(ADMIN | {"village_admin", "storekeeper", "villager"}, scoped=True),
    "order.cancel": Policy(ADMIN | {"storekeeper", "villager"}, scoped=True),
    "order.hand_over": Policy(ADMIN | {"storekeeper"}, scoped=True),
    "household_card.print": Policy(ADMIN | {"village_admin", "grid_worker", "storekeeper"}, scoped=True),
    # nightly ranking
    "ranking.view": Policy(ALL_ROLES, scoped=True),
    # star ratings
    "stars.manage": Policy(ADMIN),
    "stars.view": Policy(ALL_ROLES, scoped=True),
    # honour titles, recommendation lists, honour wall
    "honour.manage": Policy(ADMIN),
    "honour.shortlist": Policy(ADMIN | {"village_admin"}, scoped=True),
    "honour.confirm": Policy(frozenset({"panel_member"}), scoped=True),
    "honour.view": Policy(ALL_ROLES, scoped=True),
    "recommendation.manage": Policy(ADMIN),
    "recommendation.view": Policy(ADMIN | {"village_admin"}, scoped=True),
    # dividends
    "dividend.manage": Policy(ADMIN | {"village_admin"}, scoped=True),
    "dividend.view": Policy(ADMIN | {"village_admin", "panel_member"}, scoped=True),
    "dividend.simulate": Policy(ADMIN | {"village_admin"}, scoped=True),
    "dividend.approve": Policy(ADMIN),
    "dividend.pay": Policy(ADMIN),
    # notification delivery
    "notification_prefs.manage": Policy(ADMIN | {"village_admin", "grid_worker", "villager"}, scoped=True),
    "delivery.view": Policy(ADMIN),
    "delivery.retry": Policy(ADMIN),
    # period close
    "period.close": Policy(ADMIN),
    "period.view": Policy(STAFF),
    # uploaded files (photos, scans)
    "file.view": Policy(ALL_ROLES),
    # audit
    "audit.list": Policy(ADMIN),
    "audit.verify": Policy(ADMIN),
    # own account
    "account.view": Policy(frozenset({SELF})),
    "account.update": Policy(frozenset({SELF})),
    "account.tokens": Policy(frozenset({SELF})),
}


@dataclass(frozen=True)
class Grant:
    role: str
    scope_ids: frozenset = frozenset()


@dataclass
class Actor:
    """Who is acting: an operator, a township user with their grants, or the system (jobs, CLI)."""

    kind: str  # "operator" | "user" | "system"
    id: uuid.UUID | None
    name: str
    tenant_id: uuid.UUID | None = None
    county_id: uuid.UUID | None = None
    grants: tuple[Grant, ...] = ()
    locale: str | None = None
    _account: object = field(default=None, repr=False, compare=False)
    load_account: Callable[[], object] | None = field(default=None, repr=False, compare=False)

    @property
    def account(self):
        """The account row, loaded only when a service needs to change it (most requests don't)."""
        if self._account is None and self.load_account is not None:
            self._account = self.load_account()
        return self._account

    @property
    def roles(self) -> set[str]:
        return {g.role for g in self.grants}

    @classmethod
    def system(cls, name: str = "system", tenant_id=None) -> "Actor":
        return cls("system", None, name, tenant_id=tenant_id)


def authorize(actor: Actor, action_name: str, target=None) -> Grant | None:
    """Raise unless `actor` may do `action_name` (on `target`). Returns the grant that allowed it.

    A missing role is 403; a target outside the actor's scope is 404, like a missing object.
    """
    policy = POLICIES[action_name]
    if actor.kind == "system":
        return None
    if OPERATOR in policy.roles:
        if actor.kind == OPERATOR:
            return None
        raise Forbidden(_("This needs a county operator."))
    if actor.kind != "user":
        raise Forbidden(_("This needs a township account."))
    if SELF in policy.roles:
        return None
    allowed = [g for g in actor.grants if g.role in policy.roles]
    if not allowed:
        raise Forbidden(_("Your role does not allow this."))
    if not policy.scoped or target is None:
        return allowed[0]
    path = scope_path(target)
    for grant in allowed:
        kind = ROLES[grant.role].scope_kind
        if kind is None or grant.scope_ids & path.get(kind, set()):
            return grant
    raise NotFound(_("Not found."))


def may(actor: Actor, action_name: str, target=None) -> bool:
    """For pages: offer a link or form only to those `authorize` would let through."""
    try:
        authorize(actor, action_name, target)
        return True
    except (Forbidden, NotFound):
        return False


def scope_ids(actor: Actor, action_name: str, kind: str) -> set | None:
    """For list queries: the `kind` ids the actor's allowed grants reach, or None for 'all'."""
    policy = POLICIES[action_name]
    if actor.kind == "system":
        return None
    ids: set = set()
    for grant in actor.grants:
        if grant.role not in policy.roles:
            continue
        if ROLES[grant.role].scope_kind is None or not policy.scoped:
            return None
        if ROLES[grant.role].scope_kind == kind:
            ids |= grant.scope_ids
    return ids


def action(name: str):
    """Declare a service function as action `name`; its role check runs before the body.

    Scoped actions also call `authorize(actor, name, obj)` once the target object is loaded.
    """
    if name not in POLICIES:
        raise KeyError(f"no policy for action {name!r}")

    def decorate(fn):
        @wraps(fn)
        def wrapper(actor: Actor, *args, **kwargs):
            authorize(actor, name)
            return fn(actor, *args, **kwargs)

        wrapper.action_name = name
        SERVICES[name] = wrapper
        return wrapper

    return decorate


SERVICES: dict[str, object] = {}
