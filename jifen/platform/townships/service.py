"""County operators onboard, list, suspend and reactivate townships.

An operator sees only the townships of their own county; any other is answered as not found.
Suspension blocks a township's pages and API but deletes nothing.
"""
from __future__ import annotations

import re
from typing import NamedTuple
from zoneinfo import available_timezones

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts import service as accounts
from jifen.platform.accounts.models import User
from jifen.platform.audit.service import record
from jifen.platform.citus import placement
from jifen.platform.citus.fan_out import fan_out
from jifen.platform.db import db
from jifen.platform.errors import Conflict, InputConflict, Invalid, NotFound, refuse
from jifen.platform.input import Text, check
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action
from jifen.platform.roles.models import RoleAssignment
from jifen.platform.roles.registry import TOWNSHIP_ADMIN
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships import lookup
from jifen.platform.townships.models import County, Tenant

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
SLUG_PATTERN, MIN_SLUG, MAX_SLUG = r"^[a-z](-?[a-z0-9])+$", 3, 40  # the API document's: SLUG_RE without "--"
RESERVED_SLUGS = {"api", "county", "static", "admin", "login", "logout", "lang", "healthz", "readyz",
                  "public", "t", "www", "docs"}
MAX_NAME = 100  # a township's name, and its first admin's
MAX_REASON = 200  # why a township is suspended


class AccountLink(NamedTuple):
    """A setup link issued to an account by an operator. `sent_to` says where it was texted (a
    masked phone): then nobody else is shown the link. None: it could not be sent (no phone), and
    the operator is shown `secret`'s link to hand over."""
    tenant: Tenant
    user: User
    secret: str
    sent_to: str | None


def snapshot(t: Tenant) -> dict:
    return {"slug": t.slug, "name": t.name, "timezone": t.timezone,
            "default_locale": t.default_locale, "status": t.status}


def _check_fields(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    slug = (data.get("slug") or "").strip().lower()
    if not SLUG_RE.match(slug) or "--" in slug:
        errors["slug"] = [_("Use 3-40 lower-case letters, digits and single hyphens, starting with a letter.")]
    elif slug in RESERVED_SLUGS:
        errors["slug"] = [_("This address is reserved; choose another.")]
    name = check(Text(MAX_NAME, required=True, required_message=_("Enter the township's name (at most 100 "
                                                                    "characters).")), data.get("name"), "name", errors)
    tz = (data.get("timezone") or clock.DEFAULT_ZONE).strip()
    if tz not in available_timezones():
        errors["timezone"] = [_("Unknown time zone; use a name such as Asia/Shanghai.")]
    locale = data.get("default_locale") or "zh_CN"
    if locale not in current_app.config["LANGUAGES"]:
        errors["default_locale"] = [_("Unknown language.")]
    admin_name = check(Text(MAX_NAME, required=True, required_message=_("Enter the administrator's name.")),
                       data.get("admin_display_name"), "admin_display_name", errors)
    try:
        admin_username = accounts.check_username(data.get("admin_username"))
    except Invalid as e:
        errors["admin_username"] = e.errors["username"]
        admin_username = None
    conflicts: dict = {}
    if "slug" not in errors and db.session.execute(select(Tenant.id).where(Tenant.slug == slug)).first():
        conflicts["slug"] = [_("This address is taken.")]
    refuse(errors, conflicts)
    return dict(slug=slug, name=name, timezone=tz, default_locale=locale,
                admin_username=admin_username, admin_display_name=admin_name)


@action("township.onboard")
def onboard(actor: Actor, data: dict) -> tuple[Tenant, User, str]:
    """Create the township and its first admin; returns the admin's one-time setup secret."""
    f = _check_fields(data)
    lookup.forget(f["slug"])  # a "no such township" remembered for this slug is now wrong
    tenant = Tenant(id=placement.new_township_id(), county_id=actor.county_id, slug=f["slug"], name=f["name"],
                    timezone=f["timezone"], default_locale=f["default_locale"])
    db.session.add(tenant)
    db.session.flush()
    with tenant_scope(tenant):
        admin = User(username=f["admin_username"], display_name=f["admin_display_name"],
                     locale=f["default_locale"])
        db.session.add(admin)
        db.session.flush()
        db.session.add(RoleAssignment(user_id=admin.id, role=TOWNSHIP_ADMIN))
        secret = accounts.issue_setup_link(admin)
        record(actor, "township.onboard", tenant, object_type="township", after=snapshot(tenant))
        record(actor, "staff.invite", admin,
               after={"username": admin.username, "roles": [TOWNSHIP_ADMIN]})
    return tenant, admin, secret


@action("township.list")
def list_townships(actor: Actor) -> list[tuple[Tenant, int]]:
    """Townships of the operator's county (pinyin order) with their number of active accounts.

    The county's townships first (a reference table on Citus: read on the coordinator), then one
    count over their ids: county-wide on purpose, bounded by the county (`fan_out`)."""
    tenants = db.session.execute(select(Tenant).where(Tenant.county_id == actor.county_id)).scalars().all()
    counts = dict(db.session.execute(
        select(User.tenant_id, func.count()).where(User.status == User.ACTIVE, User.tenant_id.in_([t.id for t in tenants]))
        .group_by(User.tenant_id).execution_options(**fan_out("county.township_list"))).all()) if tenants else {}
    return sorted(((t, counts.get(t.id, 0)) for t in tenants), key=lambda r: pinyin_key(r[0].name))


def _get(actor: Actor, slug: str) -> Tenant:
    tenant = db.session.execute(
        select(Tenant).where(Tenant.slug == slug, Tenant.county_id == actor.county_id)
    ).scalar_one_or_none()
    if tenant is None:
        raise NotFound(_("Not found."))
    return tenant


@action("township.view")
def get_township(actor: Actor, slug: str) -> Tenant:
    return _get(actor, slug)


def _set_status(actor: Actor, slug: str, status: str, reason: str | None, action_name: str) -> Tenant:
    tenant = _get(actor, slug)
    if tenant.status == status:
        raise Conflict(_("The township is already %(status)s.", status=_(status)))
    if tenant.deletion is not None:
        raise Conflict(_("The township's data is being deleted; it cannot be changed any more."),
                       {"status": [tenant.status]})
    before = snapshot(tenant)
    lookup.forget(tenant.slug)
    tenant.status, tenant.status_changed_at = status, clock.now()
    if status == Tenant.ACTIVE:
        tenant.delete_after = None  # reactivating ends an offboarding
    tenant.status_reason = (reason or "").strip()[:MAX_REASON] or None
    with tenant_scope(tenant):
        record(actor, action_name, tenant, object_type="township", before=before,
               after=snapshot(tenant) | {"reason": tenant.status_reason})
    return tenant


@action("township.suspend")
def suspend(actor: Actor, slug: str, reason: str | None = None) -> Tenant:
    return _set_status(actor, slug, Tenant.SUSPENDED, reason, "township.suspend")


@action("township.reactivate")
def reactivate(actor: Actor, slug: str) -> Tenant:
    return _set_status(actor, slug, Tenant.ACTIVE, None, "township.reactivate")


@action("township.new_setup_link")
def new_admin_setup_link(actor: Actor, slug: str) -> AccountLink:
    """A fresh setup link for the township's first admin (e.g. the first one expired)."""
    tenant = _get(actor, slug)
    with tenant_scope(tenant):
        admin = db.session.execute(
            select(User).join(RoleAssignment, (RoleAssignment.user_id == User.id)
                              & (RoleAssignment.tenant_id == User.tenant_id))
            .where(RoleAssignment.role == TOWNSHIP_ADMIN).order_by(User.created_at).limit(1)
        ).scalar_one()
        secret, sent_to = accounts.send_setup_link(admin)
        record(actor, "staff.new_setup_link", admin, after={"username": admin.username, "texted": bool(sent_to)})
    return AccountLink(tenant, admin, secret, sent_to)


def _staff(username: str) -> User:
    """A township account by username (inside the township's scope), else Invalid on the field."""
    user = db.session.execute(
        select(User).where(User.username == (username or "").strip().lower())).scalar_one_or_none()
    if user is None:
        raise InputConflict.field("username", _("No account of this township has this username."))
    if not user.is_active:
        raise InputConflict.field("username", _("This account is disabled; the township's administrator enables it."))
    return user


@action("township.new_setup_link")
def new_staff_setup_link(actor: Actor, slug: str, username: str) -> AccountLink:
    """A fresh setup link for one account of the township (its older links stop working), texted
    to the account's phone when it has one."""
    tenant = _get(actor, slug)
    with tenant_scope(tenant):
        user = _staff(username)
        secret, sent_to = accounts.send_setup_link(user)
        record(actor, "staff.new_setup_link", user, after={"username": user.username, "texted": bool(sent_to)})
    return AccountLink(tenant, user, secret, sent_to)


@action("township.reset_password")
def reset_staff_password(actor: Actor, slug: str, username: str) -> AccountLink:
    """Reset an account's password: the old password, every session and token stop working at
    once; the one-time setup link that sets a new password is texted to the account's phone (or,
    without one, shown to the operator to hand over)."""
    tenant = _get(actor, slug)
    with tenant_scope(tenant):
        user = _staff(username)
        accounts.revoke_all(user)
        user.password_hash = None
        secret, sent_to = accounts.send_setup_link(user)
        record(actor, "staff.reset_password", user, after={"username": user.username, "password": "reset",
                                                          "texted": bool(sent_to)})
    return AccountLink(tenant, user, secret, sent_to)


def get_or_create_county(name: str, slug: str) -> County:
    county = db.session.execute(select(County).where(County.slug == slug)).scalar_one_or_none()
    if county is None:
        county = County(name=name, slug=slug)
        db.session.add(county)
        db.session.flush()
    return county
