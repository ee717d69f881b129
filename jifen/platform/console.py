"""The township home page is a set of tiles, and the county console has a nav; each capability
registers its own tiles and county links.

The platform does not know the capabilities: they call `register_tile` / `register_county_link`
when imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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


# --- a home of one's own ------------------------------------------------------------------------------
# Tiles are a staff member's work home. A capability may give some actors a home built for them
# instead (the villager's household home): the first registered home that answers wins.

HOMES: list[Callable] = []


def register_home(home: Callable) -> None:
    """`home(actor)` returns the page (a response) for an actor it is made for, else None."""
    if home not in HOMES:
        HOMES.append(home)


def own_home(actor: Actor):
    """The first registered home's page for this actor, or None (then the tiles)."""
    for home in HOMES:
        page = home(actor)
        if page is not None:
            return page
    return None


# --- the county console's navigation ---------------------------------------------------------------
# The county console (townships/views.py) is the platform's; a capability with a county page (the
# cockpit's comparison of townships) adds its link here when imported, as tiles do above.

@dataclass(frozen=True)
class CountyLink:
    endpoint: str
    label: object  # lazy_gettext
    order: int = 100


COUNTY_LINKS: list[CountyLink] = []


def register_county_link(label, endpoint: str, order: int = 100) -> None:
    if all(link.endpoint != endpoint for link in COUNTY_LINKS):
        COUNTY_LINKS.append(CountyLink(endpoint, label, order))
        COUNTY_LINKS.sort(key=lambda link: link.order)


def county_links() -> list[CountyLink]:
    return list(COUNTY_LINKS)
