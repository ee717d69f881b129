"""The roles a township can grant, the kinds of object a role can be scoped to, and the policy of
each action.

Capabilities register their scope kinds, where their objects lie (`register_scope_path` for one
object, `register_scope_where` for a list query) and their actions' policies (`register_policies`),
so that granting, checking and filtering by scope works for them without touching this module: the
platform names no capability's action or table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask_babel import lazy_gettext as _l

TOWNSHIP_ADMIN = "township_admin"
VILLAGE_ADMIN = "village_admin"
AREA_CADRE = "area_cadre"
GRID_WORKER = "grid_worker"
PANEL_MEMBER = "panel_member"
STOREKEEPER = "storekeeper"
VILLAGER = "villager"


@dataclass(frozen=True)
class RoleSpec:
    name: str
    label: object
    scope_kind: str | None  # None: the whole township
    many: bool = False  # may the role reach several scope objects


ROLES: dict[str, RoleSpec] = {
    r.name: r
    for r in (
        RoleSpec(TOWNSHIP_ADMIN, _l("Township admin"), None),
        RoleSpec(VILLAGE_ADMIN, _l("Village admin"), "village"),
        RoleSpec(AREA_CADRE, _l("Area cadre"), "village", many=True),
        RoleSpec(GRID_WORKER, _l("Grid worker"), "grid_node", many=True),
        RoleSpec(PANEL_MEMBER, _l("Certification panel member"), "village"),
        RoleSpec(STOREKEEPER, _l("Storekeeper"), "store"),
        RoleSpec(VILLAGER, _l("Villager"), "household"),
    )
}


@dataclass(frozen=True)
class ScopeKind:
    """`model` is the tenant table whose ids a role of this kind is scoped to; `path(obj)` gives,
    for any object that lives inside such scopes, the ids of each kind that contain it.

    `choices()` lists (id, label) pairs for the staff page's scope picker, or is None when there
    are too many to pick from a list (households: a villager's account is given from the
    household's own page)."""

    name: str
    label: object
    model: type
    choices: Callable[[], list[tuple]] | None = None


SCOPE_KINDS: dict[str, ScopeKind] = {}
_PATHS: dict[type, Callable[[object], dict[str, set]]] = {}
_WHERE: dict[type, dict[str, Callable[[set], object]]] = {}


def register_scope_kind(name: str, label, model: type, choices: Callable[[], list[tuple]] | None = None) -> None:
    SCOPE_KINDS[name] = ScopeKind(name, label, model, choices)


def register_scope_path(model: type, path: Callable[[object], dict[str, set]]) -> None:
    """Say which scope objects contain an instance of `model` (e.g. a household: its village,
    every grid node above it, itself)."""
    _PATHS[model] = path


def scope_path(obj) -> dict[str, set]:
    for cls in type(obj).__mro__:
        if cls in _PATHS:
            return _PATHS[cls](obj)
    return {}


def register_scope_where(model: type, where: dict[str, Callable[[set], object]]) -> None:
    """Say, as SQL, which rows of `model` lie in scope objects of each kind: `where[kind](ids)` is
    a condition true exactly for the rows whose `scope_path` holds one of `ids` under `kind`
    (tests/test_reach.py checks each list against the one-object check). A kind left out reaches
    no row."""
    _WHERE[model] = where


def scope_where(model: type) -> dict[str, Callable[[set], object]]:
    if model not in _WHERE:
        raise KeyError(f"no scope condition registered for {model.__name__}")
    return _WHERE[model]


# --- actions and their policies ------------------------------------------------------------------

OPERATOR = "operator"
SELF = "self"  # any signed-in user of the tenant, acting on their own account


@dataclass(frozen=True)
class Policy:
    roles: frozenset  # role names, or {OPERATOR}, or {SELF}
    scoped: bool = False  # the actor's scope must contain the target object
    check_only: bool = False  # asked inside other actions (`may`/`authorize`), never a service's own name


POLICIES: dict[str, Policy] = {}


def register_policies(policies: dict[str, Policy]) -> None:
    """A capability declares who may do each of its actions (at import, like its scope kinds). The
    app refuses to start while an `@action` has no policy (`authz.check_actions`)."""
    for name in policies:
        if name in POLICIES and POLICIES[name] != policies[name]:
            raise ValueError(f"two policies for action {name!r}")
    POLICIES.update(policies)
