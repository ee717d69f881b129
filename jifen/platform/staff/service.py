"""Invite people to a township and give them roles.

Roles arrive as a list of {"role": name, "scope_ids": [...]}; each scoped role must name objects
of its registered scope kind that exist in this township. A township always keeps at least one
active admin.
"""
from __future__ import annotations

import uuid

from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from jifen.platform.accounts import credential_cache
from jifen.platform.accounts import service as accounts
from jifen.platform.accounts.models import User
from jifen.platform.audit.service import record
from jifen.platform.db import db, parse_uuid
from jifen.platform.errors import Conflict, InputConflict, Invalid, refuse
from jifen.platform.input import Text, check
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action
from jifen.platform.roles.models import RoleAssignment, RoleScope
from jifen.platform.roles.registry import ROLES, SCOPE_KINDS, TOWNSHIP_ADMIN
from jifen.platform.tenancy import tenant_get_or_404

MAX_DISPLAY_NAME = 100


def _check_roles(roles: list[dict]) -> list[tuple[str, list[uuid.UUID]]]:
    """What the roles say alone (the API document states it, `api.grant_variants`) is checked first
    (Invalid); a role given twice, or scope ids naming nothing of the township, then (InputConflict)."""
    if not roles:
        raise Invalid.field("roles", _("Give at least one role."))
    clean: dict[str, list[uuid.UUID]] = {}
    twice = None
    for item in roles:
        role = item.get("role")
        spec = ROLES.get(role)
        if spec is None:
            raise Invalid.field("roles", _("Unknown role: %(role)s.", role=role))
        ids = []
        for raw in item.get("scope_ids") or []:
            found = parse_uuid(raw)
            if found is None:
                raise Invalid.field("roles", _("Not a valid id: %(id)s.", id=raw))
            ids.append(found)
        ids = sorted(set(ids))
        if spec.scope_kind is None:
            if ids:
                raise Invalid.field("roles", _("%(role)s covers the whole township; give no scope.", role=spec.label))
        else:
            if not ids:
                raise Invalid.field("roles", _("Choose where %(role)s applies.", role=spec.label))
            if len(ids) > 1 and not spec.many:
                kind = SCOPE_KINDS.get(spec.scope_kind)
                raise Invalid.field("roles", _("%(role)s applies to exactly one %(kind)s.",
                                               role=spec.label, kind=kind.label if kind else spec.scope_kind))
        if role in clean:
            twice = twice or spec
        clean[role] = ids
    if twice is not None:
        raise InputConflict.field("roles", _("The role %(role)s is given twice.", role=twice.label))
    for role, ids in clean.items():
        spec = ROLES[role]
        if spec.scope_kind is None:
            continue
        kind = SCOPE_KINDS.get(spec.scope_kind)
        if kind is None:
            raise InputConflict.field("roles", _("%(role)s can be given once the township has set this up.",
                                                 role=spec.label))
        found = db.session.execute(select(func.count()).select_from(kind.model)
                                   .where(kind.model.id.in_(ids))).scalar_one()
        if found != len(ids):
            raise InputConflict.field("roles", _("Some chosen %(kind)s do not exist.", kind=kind.label))
    return sorted(clean.items())


def _write_roles(user: User, roles: list[tuple[str, list[uuid.UUID]]]) -> None:
    credential_cache.changed(user.tenant_id)  # signed-in sessions carry the roles
    db.session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user.id))
    db.session.flush()
    for role, ids in roles:
        assignment = RoleAssignment(user_id=user.id, role=role)
        db.session.add(assignment)
        db.session.flush()
        for scope_id in ids:
            db.session.add(RoleScope(assignment_id=assignment.id, scope_kind=ROLES[role].scope_kind,
                                     scope_id=scope_id))


def holders(role: str, scope_id) -> list[User]:
    """Accounts holding `role` scoped to this object (e.g. a household's villager accounts)."""
    users = db.session.execute(
        select(User).join(RoleAssignment, (RoleAssignment.user_id == User.id) & (RoleAssignment.tenant_id == User.tenant_id))
        .join(RoleScope, (RoleScope.assignment_id == RoleAssignment.id) & (RoleScope.tenant_id == RoleAssignment.tenant_id))
        .where(RoleAssignment.role == role, RoleScope.scope_kind == ROLES[role].scope_kind, RoleScope.scope_id == scope_id)
    ).scalars().all()
    return sorted(users, key=lambda u: pinyin_key(u.display_name))


def roles_of(user_ids) -> dict[uuid.UUID, list[dict]]:
    """{user id: [{"role", "scope_ids"}]} for many users in one query (the API's shape)."""
    return {user_id: [{"role": g.role, "scope_ids": sorted(g.scope_ids)} for g in grants]
            for user_id, grants in accounts.grants_by_user(user_ids).items()}


def _snapshot(user: User) -> dict:
    return {"username": user.username, "display_name": user.display_name, "status": user.status,
            "roles": [{"role": r["role"], "scope_ids": [str(i) for i in r["scope_ids"]]}
                      for r in roles_of([user.id]).get(user.id, [])]}


def _active_admins_except(user_id) -> int:
    return db.session.execute(
        select(func.count()).select_from(RoleAssignment)
        .join(User, (User.id == RoleAssignment.user_id) & (User.tenant_id == RoleAssignment.tenant_id))
        .where(RoleAssignment.role == TOWNSHIP_ADMIN, User.status == User.ACTIVE, User.id != user_id)
    ).scalar_one()


@action("staff.list")
def list_staff(actor: Actor) -> list[User]:
    users = db.session.execute(select(User)).scalars().all()
    return sorted(users, key=lambda u: pinyin_key(u.display_name))


@action("staff.view")
def get_staff(actor: Actor, user_id) -> User:
    user = tenant_get_or_404(User, user_id)
    return user


@action("staff.invite")
def invite(actor: Actor, data: dict) -> tuple[User, str]:
    """Create an account with roles; returns it and its one-time setup secret."""
    errors: dict = {}
    conflicts: dict = {}
    username = None
    try:
        username = accounts.check_username(data.get("username"))
    except Invalid as e:
        errors.update(e.errors)
    display_name = check(Text(MAX_DISPLAY_NAME, required=True,
                              required_message=_("Enter the person's name (at most 100 characters).")),
                         data.get("display_name"), "display_name", errors)
    phone = None
    try:
        phone = accounts.check_phone(data.get("phone"))
    except Invalid as e:
        errors.update(e.errors)
    roles = []
    try:
        roles = _check_roles(data.get("roles") or [])
    except InputConflict as e:
        conflicts.update(e.errors)
    except Invalid as e:
        errors.update(e.errors)
    if username and db.session.execute(select(User.id).where(User.username == username)).first():
        conflicts["username"] = [_("This username is taken.")]
    refuse(errors, conflicts)
    user = User(username=username, display_name=display_name, phone=phone)
    db.session.add(user)
    db.session.flush()
    _write_roles(user, roles)
    secret = accounts.issue_setup_link(user)
    db.session.flush()
    record(actor, "staff.invite", user, after=_snapshot(user))
    return user, secret


@action("staff.set_roles")
def set_roles(actor: Actor, user_id, roles: list[dict]) -> User:
    user = get_staff(actor, user_id)
    clean = _check_roles(roles)
    if TOWNSHIP_ADMIN not in dict(clean) and _active_admins_except(user.id) == 0 and user.is_active:
        raise Conflict(_("A township needs at least one active administrator."))
    before = _snapshot(user)
    _write_roles(user, clean)
    db.session.flush()
    record(actor, "staff.set_roles", user, before=before, after=_snapshot(user))
    return user


@action("staff.disable")
def disable(actor: Actor, user_id) -> User:
    user = get_staff(actor, user_id)
    if user.id == actor.id:
        raise Conflict(_("You cannot disable your own account."))
    if not user.is_active:
        raise Conflict(_("The account is already disabled."))
    if _active_admins_except(user.id) == 0:
        raise Conflict(_("A township needs at least one active administrator."))
    user.status = User.DISABLED
    accounts.revoke_all(user)
    record(actor, "staff.disable", user, before={"status": "active"}, after={"status": "disabled"})
    return user


@action("staff.enable")
def enable(actor: Actor, user_id) -> User:
    user = get_staff(actor, user_id)
    if user.is_active:
        raise Conflict(_("The account is already active."))
    user.status = User.ACTIVE
    record(actor, "staff.enable", user, before={"status": "disabled"}, after={"status": "active"})
    return user


@action("staff.new_setup_link")
def new_setup_link(actor: Actor, user_id) -> tuple[User, str]:
    user = get_staff(actor, user_id)
    if not user.is_active:
        raise Conflict(_("Enable the account first."))
    secret = accounts.issue_setup_link(user)
    record(actor, "staff.new_setup_link", user, after={"username": user.username})
    return user, secret
