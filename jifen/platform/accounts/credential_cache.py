"""Resolved credentials, remembered per process and re-checked on every request against a
revocation version shared by all processes.

Looking a session or token up in PostgreSQL is the one query every request paid for. Instead, each
process remembers what a credential resolved to, tagged with its township's *revocation version*.
Every change that must end or alter a credential at once (logout, token revocation, disabling an
account, new roles, a new language or type size) bumps that version after its transaction commits
(`changed()`), so the next request in any process sees a newer version and asks the database
again. Reading the version is one Redis GET, far cheaper than the query.

Versions live in Redis when one is configured (`platform/versions`). Without Redis the cache is off,
unless `CREDENTIAL_CACHE = "local"` says this is a single process (the tests).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from jifen.platform import versions
from jifen.platform.db import db

MAX_ENTRIES = 20_000  # beyond this the memo is simply emptied: it refills at one query per credential
TTL_SECONDS = 300  # an upper bound even if a change forgot to call changed()


@dataclass(frozen=True)
class Entry:
    version: int
    until: float  # monotonic time after which the entry is not trusted
    payload: object


def _state() -> tuple[object | None, dict]:
    """(version store or None when the cache is off, memo) of the current app, made on first use."""
    ext = current_app.extensions
    if "credential_cache" not in ext:
        ext["credential_cache"] = (versions.store("CREDENTIAL_CACHE", "jifen:credver"), {})
    return ext["credential_cache"]


def lookup(scope: str, key: tuple, load: Callable[[], tuple[object, float | None] | None]):
    """The payload for `key` (a credential hash and kind) in `scope` (a township id, or "county").

    `load()` asks the database and returns (payload, seconds the credential stays valid) or None.
    The version is read *before* loading, so a change committed meanwhile makes the entry stale.
    """
    store, memo = _state()
    if store is None:
        found = load()
        return found[0] if found else None
    try:
        version = store.get(scope)
    except Exception:  # Redis unreachable: ask the database, remember nothing
        current_app.logger.warning("credential cache: version store unreachable", exc_info=True)
        found = load()
        return found[0] if found else None
    now = time.monotonic()
    hit = memo.get(key)
    if hit is not None and hit.version == version and hit.until > now:
        return hit.payload
    found = load()
    if found is None:
        memo.pop(key, None)
        return None
    payload, valid_for = found
    if len(memo) >= MAX_ENTRIES:
        memo.clear()
    memo[key] = Entry(version, now + min(TTL_SECONDS, valid_for if valid_for is not None else TTL_SECONDS),
                       payload)
    return payload


def changed(scope: str) -> None:
    """Credentials of `scope` must be looked up afresh once the current transaction commits."""
    db.session.info.setdefault("credentials_changed", set()).add(str(scope))


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session) -> None:
    scopes = session.info.pop("credentials_changed", None)
    if scopes:
        store, _ = _state()
        for scope in scopes:
            if store is None:
                continue
            try:
                store.bump(scope)
            except Exception:  # the change is committed; other processes let go within TTL_SECONDS
                current_app.logger.error("credential cache: could not publish a revocation for %s",
                                         scope, exc_info=True)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session, previous_transaction) -> None:
    session.info.pop("credentials_changed", None)
