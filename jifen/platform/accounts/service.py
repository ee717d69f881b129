"""Signing in and out, setup links, API tokens, and turning an account into an `Actor`.

Login creates a fresh server-side session row (a new session id every time); logout revokes it;
disabling an account revokes every session and token it has.
"""
from __future__ import annotations

import re
import uuid
from datetime import timedelta
from functools import lru_cache
from typing import Callable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update

from jifen.platform import clock, sealed
from jifen.platform.accounts import credential_cache, credentials, passwords
from jifen.platform.accounts.models import (
    MAX_TOKEN_NAME,
    Operator,
    OperatorSession,
    OperatorToken,
    SetupLink,
    User,
    UserSession,
    UserToken,
)
from jifen.platform.audit.service import record
from jifen.platform.db import db, parse_uuid
from jifen.platform.errors import Conflict, Invalid, NotFound, Unauthenticated
from jifen.platform.input import Text, value
from jifen.platform.roles.authz import Actor, Grant, action
from jifen.platform.roles.models import RoleAssignment, RoleScope
from jifen.platform.tenancy import current_tenant, register_url_object, tenant_get
from jifen.platform.townships.models import County

register_url_object("user_id", User)
register_url_object("token_id", UserToken)

COUNTY_SCOPE = "county"  # the credential-cache scope of operators
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,62}$")


def check_username(username: str) -> str:
    username = (username or "").strip().lower()
    if not USERNAME_RE.match(username):
        raise Invalid.field("username", _("Use 2-63 lower-case letters, digits, '.', '_' or '-'."))
    return username


PHONE_PATTERN = r"^\d{7,15}$"  # a staff member's or operator's phone: digits only, 7 to 15 of them


def check_phone(phone: str | None) -> str | None:
    """A staff or operator phone, or None when blank."""
    phone = (phone or "").strip() or None
    if phone and not re.match(PHONE_PATTERN, phone):
        raise Invalid.field("phone", _("Enter digits only, 7 to 15 of them."))
    return phone


def check_new_password(password: str, account) -> None:
    place = current_tenant() if isinstance(account, User) else db.session.get(County, account.county_id)
    problem = passwords.weakness(password or "", username=account.username, display_name=account.display_name,
                                 places=passwords.place_words(place.name, place.slug) if place else ())
    if problem:
        raise Invalid.field("password", problem)


# --- actors -----------------------------------------------------------------------------------

def _grants(rows) -> tuple[Grant, ...]:
    """(role, scope id or None) rows -> grants, one per role with all its scope ids."""
    by_role: dict[str, set] = {}
    for role, scope_id in rows:
        if role is None:
            continue
        by_role.setdefault(role, set())
        if scope_id is not None:
            by_role[role].add(scope_id)
    return tuple(Grant(r, frozenset(ids)) for r, ids in sorted(by_role.items()))


def _with_grants(stmt):
    """Add each (role, scope id) of the statement's User to its rows."""
    return (stmt.add_columns(RoleAssignment.role, RoleScope.scope_id)
            .outerjoin(RoleAssignment, (RoleAssignment.user_id == User.id)
                       & (RoleAssignment.tenant_id == User.tenant_id))
            .outerjoin(RoleScope, (RoleScope.assignment_id == RoleAssignment.id)
                       & (RoleScope.tenant_id == RoleAssignment.tenant_id)))


def grants_by_user(user_ids) -> dict[uuid.UUID, tuple[Grant, ...]]:
    """Every role (with its scope ids) of each of these users, in one query."""
    rows = db.session.execute(_with_grants(select(User.id)).where(User.id.in_(list(user_ids)))).all()
    pairs: dict[uuid.UUID, list] = {}
    for user_id, role, scope_id in rows:
        pairs.setdefault(user_id, []).append((role, scope_id))
    return {user_id: _grants(p) for user_id, p in pairs.items()}


def actor_for(account) -> Actor:
    if isinstance(account, Operator):
        return Actor("operator", account.id, account.display_name, county_id=account.county_id,
                     locale=account.locale, large_type=bool(account.large_type), _account=account)
    return Actor("user", account.id, account.display_name, tenant_id=account.tenant_id,
                 grants=grants_by_user([account.id]).get(account.id, ()), locale=account.locale,
                 large_type=bool(account.large_type), _account=account)


# --- sign in ----------------------------------------------------------------------------------

def authenticate(model, username: str, password: str):
    """The active account with that username and password, or None. Rehashes if needed."""
    account = db.session.execute(
        select(model).where(model.username == (username or "").strip().lower())
    ).scalar_one_or_none()
    ok, new_hash = passwords.verify(account.password_hash if account else None, password or "")
    if not ok or not account.is_active:
        return None
    if new_hash:
        account.password_hash = new_hash
    return account


def start_session(account) -> str:
    """A new session for `account`; returns the cookie value. The caller commits."""
    secret = credentials.new_secret()
    hours = current_app.config["SESSION_LIFETIME_HOURS"]
    now = clock.now()
    fields = dict(token_hash=credentials.digest(secret), created_at=now,
                  expires_at=now + timedelta(hours=hours))
    account.last_login_at = now
    if isinstance(account, Operator):
        db.session.add(OperatorSession(operator_id=account.id, **fields))
        return credentials.operator_session_token(secret)
    db.session.add(UserSession(user_id=account.id, **fields))
    record(actor_for(account), "account.login", account, after={"username": account.username})
    return credentials.user_session_token(account.tenant_id, secret)


@lru_cache(maxsize=None)
def _credential_statement(model, account_model):
    """Built once per credential table: the live credential with this hash, what a request needs
    of its active account and (for township users) every (role, scope id) of that account. One
    round trip, plain columns (no ORM objects to build): this runs on every request."""
    live = (model.token_hash == bindparam("token_hash")) & model.revoked_at.is_(None) & (
        model.expires_at.is_(None) | (model.expires_at > bindparam("now")))
    if account_model is Operator:
        return (select(model.id, model.expires_at, Operator.id, Operator.display_name, Operator.locale,
                       Operator.county_id, Operator.large_type)
                .join(Operator, Operator.id == model.operator_id)
                .where(live, Operator.status == Operator.ACTIVE))
    return (_with_grants(select(model.id, model.expires_at, User.id, User.display_name, User.locale, User.large_type)
                         .join(User, (User.id == model.user_id) & (User.tenant_id == model.tenant_id)))
            .where(live, User.status == User.ACTIVE))


def _seconds_left(expires_at) -> float | None:
    return None if expires_at is None else (expires_at - clock.now()).total_seconds()


def resolve(token: str, *, api: bool):
    """Who a session cookie / bearer token belongs to: (actor, credential model, credential id),
    or None. One query, or none when `credential_cache` remembers it and nothing has changed. A
    user credential is only looked up inside its own tenant (the token names it); the caller
    decides what a credential of elsewhere means."""
    parsed = credentials.parse(token or "")
    if parsed is None:
        return None
    kind, tenant_id, secret = parsed
    token_hash = credentials.digest(secret)
    if kind == "user":
        tenant = current_tenant()
        if tenant is None or tenant.id != tenant_id:
            return None
        model = UserToken if api else UserSession

        def load_user():
            rows = db.session.execute(_credential_statement(model, User),
                                      {"token_hash": token_hash, "now": clock.now()}).all()
            if not rows:
                return None
            cred_id, expires_at, user_id, name, locale, large_type = rows[0][:6]
            grants = _grants((role, scope) for *_, role, scope in rows)
            return (cred_id, user_id, name, locale, bool(large_type), grants), _seconds_left(expires_at)

        found = credential_cache.lookup(str(tenant.id), (model.__tablename__, token_hash), load_user)
        if found is None:
            return None
        cred_id, user_id, name, locale, large_type, grants = found
        actor = Actor("user", user_id, name, tenant_id=tenant.id, locale=locale, large_type=large_type, grants=grants,
                      load_account=lambda: tenant_get(User, user_id))
        return actor, model, cred_id
    model = OperatorToken if api else OperatorSession

    def load_operator():
        row = db.session.execute(_credential_statement(model, Operator),
                                 {"token_hash": token_hash, "now": clock.now()}).first()
        return (tuple(row[:1]) + tuple(row[2:]), _seconds_left(row[1])) if row else None

    found = credential_cache.lookup(COUNTY_SCOPE, (model.__tablename__, token_hash), load_operator)
    if found is None:
        return None
    cred_id, op_id, name, locale, county_id, large_type = found
    actor = Actor("operator", op_id, name, county_id=county_id, locale=locale, large_type=bool(large_type),
                  load_account=lambda: db.session.get(Operator, op_id))
    return actor, model, cred_id


def _scope_of(account) -> str:
    return COUNTY_SCOPE if isinstance(account, Operator) else str(account.tenant_id)


def end_session(token: str) -> None:
    found = resolve(token, api=False)
    if found:
        actor, model, cred_id = found
        db.session.execute(update(model).where(model.id == cred_id).values(revoked_at=clock.now()))
        credential_cache.changed(actor.tenant_id or COUNTY_SCOPE)


def revoke_all(account) -> None:
    """Every session and token of the account stops working at once."""
    now = clock.now()
    if isinstance(account, Operator):
        pairs = [(OperatorSession, OperatorSession.operator_id), (OperatorToken, OperatorToken.operator_id)]
    else:
        pairs = [(UserSession, UserSession.user_id), (UserToken, UserToken.user_id),
                 (SetupLink, SetupLink.user_id)]
    for model, col in pairs:
        db.session.execute(
            update(model).where(col == account.id, model.revoked_at.is_(None)).values(revoked_at=now)
        )
    credential_cache.changed(_scope_of(account))


# --- setup links ------------------------------------------------------------------------------

def issue_setup_link(user: User) -> str:
    """Revoke the user's open links and return a new one-time secret (the caller builds the URL)."""
    return _new_link(user)[1]


def _new_link(user: User) -> tuple[SetupLink, str]:
    now = clock.now()
    db.session.execute(
        update(SetupLink).where(SetupLink.user_id == user.id, SetupLink.used_at.is_(None),
                                SetupLink.revoked_at.is_(None)).values(revoked_at=now)
    )
    secret = credentials.new_secret()
    hours = current_app.config["SETUP_LINK_HOURS"]
    link = SetupLink(user_id=user.id, token_hash=credentials.digest(secret), expires_at=now + timedelta(hours=hours))
    db.session.add(link)
    return link, secret


# (user, link) -> where the link went, said for the operator (a masked phone), or None when this
# sender cannot reach the user. The notifications capability registers the one that texts it.
LINK_SENDERS: list[Callable] = []


def register_link_sender(sender: Callable) -> None:
    if sender not in LINK_SENDERS:
        LINK_SENDERS.append(sender)


def send_setup_link(user: User) -> tuple[str, str | None]:
    """Issue a new setup link (older ones stop working) and send it to its owner through the first
    sender that reaches them, in the caller's transaction: (secret, where it went). Where is None
    when no sender could (no phone on the account): then the caller shows the link to whoever
    asked, who hands it over."""
    link, secret = _new_link(user)
    link.secret_sealed = sealed.seal(secret)
    db.session.flush()
    for sender in LINK_SENDERS:
        where = sender(user, link)
        if where:
            return secret, where
    link.secret_sealed = None
    return secret, None


def sent_link_secret(link: SetupLink) -> str | None:
    """The secret of a link waiting to be sent, while it still works; else None."""
    if not link.secret_sealed or link.used_at or link.revoked_at or link.expires_at <= clock.now():
        return None
    return sealed.unseal(link.secret_sealed)


def find_setup_link(secret: str) -> tuple[SetupLink, User]:
    link = db.session.execute(
        select(SetupLink).where(SetupLink.token_hash == credentials.digest(secret or ""))
    ).scalar_one_or_none()
    if link is None or link.revoked_at is not None:
        raise NotFound(_("This setup link is not valid."))
    if link.used_at is not None:
        raise Conflict.field("link", _("This setup link has already been used."))  # a repeat: 409
    if link.expires_at <= clock.now():
        raise Invalid.field("link", _("This setup link has expired; ask your administrator for a new one."))
    user = db.session.get(User, (link.tenant_id, link.user_id))
    if user is None or not user.is_active:
        raise NotFound(_("This setup link is not valid."))
    return link, user


def complete_setup(secret: str, password: str, confirm: str) -> User:
    link, user = find_setup_link(secret)
    if password != confirm:
        raise Invalid.field("confirm", _("The two passwords differ."))
    check_new_password(password, user)
    user.password_hash = passwords.hash_password(password)
    link.used_at = clock.now()
    record(actor_for(user), "account.setup", user, after={"password": "set"})
    return user


# --- own account ------------------------------------------------------------------------------

@action("account.update")
def set_locale(actor: Actor, locale: str | None) -> None:
    """None: no choice of one's own, the township's default language applies."""
    if locale is not None and locale not in current_app.config["LANGUAGES"]:
        raise Invalid.field("locale", _("Unknown language."))
    actor.account.locale = actor.locale = locale
    credential_cache.changed(_scope_of(actor.account))


@action("account.update")
def set_large_type(actor: Actor, on: bool) -> None:
    """The account's own choice of large type: it follows the person to any phone they sign in on."""
    actor.account.large_type = actor.large_type = bool(on)
    credential_cache.changed(_scope_of(actor.account))


@action("account.update")
def change_password(actor: Actor, current: str, new: str, confirm: str) -> None:
    user = actor.account
    if not passwords.verify(user.password_hash, current or "")[0]:
        raise Invalid.field("current", _("The current password is wrong."))
    if new != confirm:
        raise Invalid.field("confirm", _("The two passwords differ."))
    check_new_password(new, user)
    user.password_hash = passwords.hash_password(new)
    record(actor, "account.password", user, after={"password": "changed"})


@action("account.tokens")
def create_token(actor: Actor, name: str) -> tuple[UserToken, str]:
    name = value(Text(MAX_TOKEN_NAME, required=True,
                      required_message=_("Give the token a name of at most 100 characters.")), name, "name")
    secret = credentials.new_secret()
    token = UserToken(user_id=actor.id, name=name, token_hash=credentials.digest(secret))
    db.session.add(token)
    db.session.flush()
    record(actor, "token.create", token, after={"name": name})
    return token, credentials.user_api_token(actor.tenant_id, secret)


@action("account.tokens")
def list_tokens(actor: Actor):
    return db.session.execute(
        select(UserToken).where(UserToken.user_id == actor.id, UserToken.revoked_at.is_(None))
        .order_by(UserToken.created_at.desc())
    ).scalars().all()


@action("account.tokens")
def revoke_token(actor: Actor, token_id) -> None:
    token_id = parse_uuid(token_id)
    if token_id is None:
        raise NotFound(_("Not found."))
    token = db.session.execute(
        select(UserToken).where(UserToken.id == token_id, UserToken.user_id == actor.id)
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None:
        raise NotFound(_("Not found."))
    token.revoked_at = clock.now()
    credential_cache.changed(actor.tenant_id)
    record(actor, "token.revoke", token, before={"name": token.name})


def token_for_password(model, username: str, password: str, name: str):
    """API sign-in: a new bearer token for the account with that password -> (row, token)."""
    account = authenticate(model, username, password)
    if account is None:
        raise Unauthenticated(_("Wrong username or password."))
    if isinstance(account, User):
        return create_token(actor_for(account), name)
    secret = credentials.new_secret()
    token = OperatorToken(operator_id=account.id, name=name, token_hash=credentials.digest(secret))
    db.session.add(token)
    db.session.flush()
    return token, credentials.operator_api_token(secret)


def create_operator(county, username: str, display_name: str, password: str, phone: str | None = None) -> Operator:
    """CLI only: the first operator of a county (there is no one yet to authorize it)."""
    username = check_username(username)
    phone = check_phone(phone)
    if db.session.execute(select(Operator).where(Operator.username == username)).first():
        raise Invalid.field("username", _("This username is taken."))
    op = Operator(county_id=county.id, username=username, display_name=display_name or username, phone=phone)
    check_new_password(password, op)
    op.password_hash = passwords.hash_password(password)
    db.session.add(op)
    return op


def set_operator_phone(username: str, phone: str | None) -> Operator:
    """CLI only: where an operator's job alerts are texted (blank: no texts, the console banner only)."""
    op = db.session.execute(select(Operator).where(Operator.username == check_username(username))).scalar_one_or_none()
    if op is None:
        raise Invalid.field("username", _("There is no operator with this username."))
    op.phone = check_phone(phone)
    return op
