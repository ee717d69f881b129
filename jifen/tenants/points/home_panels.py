"""Panels other capabilities add to a household's home page (rank, stars, store orders …).

The points capability owns the page; a capability registers a panel when imported, so the page
does not need to know about it. A panel's `context(actor, household)` returns the template's
values, or None to show nothing (e.g. the reader may not see it, or there is nothing yet)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class HomePanel:
    template: str
    context: Callable
    order: int


PANELS: dict[str, HomePanel] = {}


def register_home_panel(name: str, template: str, context: Callable, order: int = 100) -> None:
    PANELS[name] = HomePanel(template, context, order)


def panels_for(actor, household) -> list[tuple[str, dict]]:
    """(template, values) of every panel with something to show, in order."""
    out = []
    for panel in sorted(PANELS.values(), key=lambda p: p.order):
        values = panel.context(actor, household)
        if values is not None:
            out.append((panel.template, values))
    return out
