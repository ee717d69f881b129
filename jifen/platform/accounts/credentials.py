"""Secrets handed to a browser or a client: only their SHA-256 is stored.

Formats carry where to look, so a lookup is one indexed query in the right tenant:
    user session / API token   u.<tenant id hex>.<secret>   /  jfu_<tenant id hex>_<secret>
    operator session / token   o.<secret>                   /  jfo_<secret>
"""
from __future__ import annotations

import hashlib
import secrets
import uuid


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def user_session_token(tenant_id: uuid.UUID, secret: str) -> str:
    return f"u.{tenant_id.hex}.{secret}"


def operator_session_token(secret: str) -> str:
    return f"o.{secret}"


def user_api_token(tenant_id: uuid.UUID, secret: str) -> str:
    return f"jfu_{tenant_id.hex}_{secret}"


def operator_api_token(secret: str) -> str:
    return f"jfo_{secret}"


def parse(token: str) -> tuple[str, uuid.UUID | None, str] | None:
    """-> (kind, tenant id or None, secret) where kind is 'user' or 'operator'; None if malformed."""
    try:
        if token.startswith("u."):
            _, tid, secret = token.split(".", 2)
            return "user", uuid.UUID(hex=tid), secret
        if token.startswith("jfu_"):
            tid, secret = token[4:].split("_", 1)
            return "user", uuid.UUID(hex=tid), secret
        if token.startswith("o."):
            return "operator", None, token[2:]
        if token.startswith("jfo_"):
            return "operator", None, token[4:]
    except ValueError:
        return None
    return None
