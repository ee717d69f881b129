"""The roles a township can grant and the kinds of object a role can be scoped to.

Capabilities register their scope kinds (village here; grid node, store and household later) so
that granting, checking and filtering by scope works for them without touching this module.
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
