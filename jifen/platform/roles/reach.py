"""Who may reach what: the one rule, for one object and for a list.

An actor's grants that an action's policy admits reach either the whole township (an unscoped
role, an unscoped policy, the system) or the scope objects they name, by kind (villages, grid
nodes, stores, households). An object lies in the scope objects its capability says
(`registry.register_scope_path`); a list query keeps the rows its capability's SQL condition
says (`registry.register_scope_where`). Both answers start from the same `Reach`, so "may I open
this one" and "which may I list" cannot drift apart; tests/test_reach.py checks the two agree for
every list and role.

`authz.authorize` (403/404) and `authz.may` ask `grant_reaching`; every list filter asks `where`;
nothing else combines grants.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import false, or_, select

from jifen.platform.roles.registry import POLICIES, ROLES, scope_path, scope_where


@dataclass(frozen=True)
class Reach:
    """What an actor reaches for one action: everything, or the granted ids of each scope kind."""

    everything: bool = False
    ids: dict = field(default_factory=dict)  # scope kind -> frozenset of ids (empty: reaches nothing)

    def of(self, kind: str) -> set:
        return set(self.ids.get(kind, ()))


def reach(actor, action_name: str) -> Reach:
    policy = POLICIES[action_name]
    if actor.kind == "system":
        return Reach(everything=True)
    if actor.kind != "user":
        return Reach()
    allowed = tuple(g for g in actor.grants if g.role in policy.roles)
    if not allowed:
        return Reach()
    if not policy.scoped or any(ROLES[g.role].scope_kind is None for g in allowed):
        return Reach(everything=True)
    ids: dict[str, frozenset] = {}
    for grant in allowed:
        kind = ROLES[grant.role].scope_kind
        ids[kind] = ids.get(kind, frozenset()) | grant.scope_ids
    return Reach(ids=ids)


def grant_reaching(actor, action_name: str, obj):
    """The first grant admitted for the action whose scope contains `obj`, or None: the
    one-object check behind `authz.authorize` and `authz.may`."""
    policy = POLICIES[action_name]
    path = None  # read only when a scoped grant must be matched (a township admin's never is)
    for grant in actor.grants:
        if grant.role not in policy.roles:
            continue
        kind = ROLES[grant.role].scope_kind
        if not policy.scoped or kind is None:
            return grant
        if path is None:
            path = scope_path(obj)
        if grant.scope_ids & path.get(kind, set()):
            return grant
    return None


def ids(actor, action_name: str, kind: str) -> set | None:
    """The granted ids of one scope kind the action reaches, or None for the whole township."""
    found = reach(actor, action_name)
    return None if found.everything else found.of(kind)


def where(actor, action_name: str, model: type):
    """SQL condition keeping the rows of `model` the actor may list for the action, or None for
    every row (no filter). The condition is on the columns `model`'s registration names."""
    found = reach(actor, action_name)
    if found.everything:
        return None
    conditions = scope_where(model)
    parts = [conditions[kind](set(granted)) for kind, granted in found.ids.items()
             if granted and kind in conditions]
    return or_(*parts) if parts else false()


def filtered(query, actor, action_name: str, model: type):
    """`query` kept to the rows the actor may list (unchanged for township-wide reach)."""
    condition = where(actor, action_name, model)
    return query if condition is None else query.where(condition)


def id_select(actor, action_name: str, model: type, column):
    """A `SELECT column` of the reachable rows, for `IN (…)` filters on other tables."""
    return filtered(select(column), actor, action_name, model)
