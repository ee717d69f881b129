"""Authorization at the service boundary, in one place (after CKAN's action/auth pairing).

Every service function is declared with `@action(name)`; `POLICIES[name]` says which roles may call
it and whether their scope must contain the target. The API, pages, CLI and workers all call the
same service functions, so they share this check. `authorize()` is the only place it is decided,
from the one reach rule (`roles/reach.py`). The platform's own actions are declared here; each
capability registers its own (`registry.register_policies`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import wraps
from typing import Callable

from flask_babel import gettext as _

from jifen.platform.errors import Forbidden, NotFound
from jifen.platform.roles import reach
from jifen.platform.roles.registry import OPERATOR, POLICIES, ROLES, SELF, TOWNSHIP_ADMIN, Policy, register_policies

ALL_ROLES = frozenset(ROLES)
ADMIN = frozenset({TOWNSHIP_ADMIN})
STAFF = ADMIN | {"village_admin", "area_cadre", "grid_worker", "panel_member"}  # who works with households
WORK_TEAM = ADMIN | {"area_cadre", "grid_worker"}  # 积分工作队: gathers and verifies

register_policies({
    # county console
    "township.onboard": Policy(frozenset({OPERATOR})),
    "township.list": Policy(frozenset({OPERATOR})),
    "township.view": Policy(frozenset({OPERATOR})),
    "township.suspend": Policy(frozenset({OPERATOR})),
    "township.reactivate": Policy(frozenset({OPERATOR})),
    "township.new_setup_link": Policy(frozenset({OPERATOR})),
    "township.reset_password": Policy(frozenset({OPERATOR})),
    "township.export": Policy(frozenset({OPERATOR})),
    "township.offboard": Policy(frozenset({OPERATOR})),
    # staff and roles
    "staff.list": Policy(ADMIN),
    "staff.view": Policy(ADMIN),
    "staff.invite": Policy(ADMIN),
    "staff.set_roles": Policy(ADMIN),
    "staff.disable": Policy(ADMIN),
    "staff.enable": Policy(ADMIN),
    "staff.new_setup_link": Policy(ADMIN),
    # uploaded files (photos, scans)
    "file.view": Policy(ALL_ROLES),
    # audit
    "audit.list": Policy(ADMIN),
    "retention.view": Policy(ADMIN),
    "audit.verify": Policy(ADMIN),
    # daily job runs (jobs/service.py): the township's own, and the county's counts per township
    "jobs.list": Policy(ADMIN),
    "jobs.view": Policy(ADMIN),
    "jobs.county": Policy(frozenset({OPERATOR})),
    # own account
    "account.view": Policy(frozenset({SELF})),
    "account.update": Policy(frozenset({SELF})),
    "account.tokens": Policy(frozenset({SELF})),
})


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
    large_type: bool = False  # pages in large type (the account's choice, see accounts.set_large_type)
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
    grant = reach.grant_reaching(actor, action_name, target)
    if grant is None:
        raise NotFound(_("Not found."))
    return grant


def may(actor: Actor, action_name: str, target=None) -> bool:
    """For pages: offer a link or form only to those `authorize` would let through."""
    try:
        authorize(actor, action_name, target)
        return True
    except (Forbidden, NotFound):
        return False


def scope_ids(actor: Actor, action_name: str, kind: str) -> set | None:
    """The granted ids of one scope kind (e.g. a villager's households), or None for 'all'. Lists
    filter with `reach.where`, never by combining kinds themselves."""
    return reach.ids(actor, action_name, kind)


def action(name: str):
    """Declare a service function as action `name`; its role check runs before the body.

    Scoped actions also call `authorize(actor, name, obj)` once the target object is loaded. The
    policy may be registered after the decorator runs (capabilities register theirs at import);
    `check_actions` stops the app from starting while one is missing.
    """

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


def check_actions(app=None) -> None:
    """Every `@action` has a policy; a check-only policy is never a service's own action."""
    missing = sorted(set(SERVICES) - set(POLICIES))
    if missing:
        raise RuntimeError(f"no policy for actions {missing}: register them with register_policies()")
    misused = sorted(n for n in SERVICES if POLICIES[n].check_only)
    if misused:
        raise RuntimeError(f"check-only policies used as @action: {misused}")
