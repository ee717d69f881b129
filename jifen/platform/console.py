"""The township home page is a set of tiles; each capability registers its own.

The platform does not know the capabilities: they call `register_tile` when imported.
"""
from __future__ import annotations

from dataclasses import dataclass

from jifen.platform.roles.authz import POLICIES, SELF, Actor


@dataclass(frozen=True)
class Tile:
    endpoint: str
    label: object  # lazy_gettext
    action: str  # shown to those whose roles allow this action
    order: int = 100


TILES: list[Tile] = []


def register_tile(endpoint: str, label, action: str, order: int = 100) -> None:
    if all(t.endpoint != endpoint for t in TILES):
        TILES.append(Tile(endpoint, label, action, order))
        TILES.sort(key=lambda t: t.order)


def tiles_for(actor: Actor) -> list[Tile]:
    roles = actor.roles if actor else set()
    return [t for t in TILES if SELF in POLICIES[t.action].roles or roles & POLICIES[t.action].roles]
