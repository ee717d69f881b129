"""Operators are platform accounts of a county; users are tenant-owned accounts of a township.

Login sessions, API tokens and setup links are credentials: only a SHA-256 of the secret is
stored, each can be revoked, and disabling an account revokes them all.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, new_id, tenant_fk

MAX_TOKEN_NAME = 100  # an API token's name (the API document and the service check it with this)


class AccountMixin:
    ACTIVE, DISABLED = "active", "disabled"
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(10))
    large_type: Mapped[bool] = mapped_column(default=False, server_default=false())  # elder-friendly pages
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_login_at: Mapped[datetime | None]

    @property
    def is_active(self) -> bool:
        return self.status == self.ACTIVE


class Operator(AccountMixin, db.Model):
    __tablename__ = "operators"
    __table_args__ = (CheckConstraint("status in ('active', 'disabled')", name="status"),)
    kind = "operator"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    county_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("counties.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))  # job alerts of the county's townships are texted here


class User(TenantScoped, AccountMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username"),
        CheckConstraint("status in ('active', 'disabled')", name="status"),
    )
    kind = "user"
    username: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))


class CredentialMixin:
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class UserSession(TenantScoped, CredentialMixin, db.Model):
    __tablename__ = "user_sessions"
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"), tenant_fk(["user_id"], "users"))
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)


class OperatorSession(CredentialMixin, db.Model):
    __tablename__ = "operator_sessions"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"), index=True)

    @declared_attr.directive
    def __table_args__(cls):
        return (UniqueConstraint("token_hash"),)


class UserToken(TenantScoped, CredentialMixin, db.Model):
    """An API bearer token of a township user; acts with exactly that user's roles."""

    __tablename__ = "user_tokens"
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"), tenant_fk(["user_id"], "users"))
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(MAX_TOKEN_NAME))


class OperatorToken(CredentialMixin, db.Model):
    __tablename__ = "operator_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"), index=True)
    name: Mapped[str] = mapped_column(String(MAX_TOKEN_NAME))


class SetupLink(TenantScoped, CredentialMixin, db.Model):
    """One-time link with which a township user sets a password. A link sent to its owner's phone
    (`accounts.service.send_setup_link`) also keeps its secret sealed (platform/sealed.py) until the
    outbox worker has texted it; a used, revoked or expired link's secret opens nothing."""

    __tablename__ = "setup_links"
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"), tenant_fk(["user_id"], "users"))
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    secret_sealed: Mapped[str | None] = mapped_column(String(255))
