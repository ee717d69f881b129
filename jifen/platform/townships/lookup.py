"""Finding the township a request names, without a database round trip on every request.

Each process keeps a snapshot of each township it has served for `TENANT_CACHE_SECONDS` (5 s by
default). A change made in this process (suspension, reactivation) is seen at once; other
processes see it within those seconds. Suspension is a business decision, not a security
boundary, so a few seconds' lag is acceptable; credentials are never cached.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.townships.models import Tenant


@dataclass(frozen=True)
class TenantRef:
    """What a request needs to know of its township (a plain value, safe to share)."""

    id: uuid.UUID
    county_id: uuid.UUID
    slug: str
    name: str
    timezone: str
    default_locale: str
    status: str

    @property
    def is_active(self) -> bool:
        return self.status == Tenant.ACTIVE


_cache: dict[str, tuple[float, TenantRef | None]] = {}
_lock = threading.Lock()


def tenant_by_slug(slug: str) -> TenantRef | None:
    ttl = current_app.config["TENANT_CACHE_SECONDS"]
    now = time.monotonic()
    hit = _cache.get(slug)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    t = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    ref = TenantRef(t.id, t.county_id, t.slug, t.name, t.timezone, t.default_locale, t.status) if t else None
    with _lock:
        _cache[slug] = (now, ref)
    return ref


def forget(slug: str) -> None:
    """Called by the services that change a township, so this process sees it at once."""
    with _lock:
        _cache.pop(slug, None)


def forget_all() -> None:
    with _lock:
        _cache.clear()
