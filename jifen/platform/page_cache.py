"""Rendered fragments of costly pages (the dashboards), kept until their township's data changes.

A township's *data version* is bumped after every commit made while the township is in scope: a
request's unit of work, a job's run or chunk (whoever commits; the bump is a session event, so no
committer can forget it). A fragment is kept per view (below), language, page URL with its filters
and local day (ages in days move with it), with the version read before it was rendered, and served
only while that is still the version: a reader never sees a fragment older than the township's
last commit.

The *view* is the reader's grants, not the person: readers with the same grants (role and scopes) share
it. What a reader may see is a function of their grants alone (platform/roles/reach.py: the one
reach rule), so their pages are the same; a kept fragment must therefore show nothing else of its
reader (their name and links are in the page around it, rendered for each request).

A commit made with no township in scope (county tools, the beat's claims) bumps nothing: what it
changes in a township shows when the fragment's time to live (`TTL_SECONDS`) ends. Fragments live
in Redis (`PAGE_CACHE=auto` with Redis configured: shared by every process), in this process
(`local`: the tests) or nowhere (`off`, and the embedded default without Redis). When Redis cannot
be reached the page is rendered as if there were no cache and nothing is kept.
"""
from __future__ import annotations

import hashlib
import time
from typing import Callable

from flask import current_app, g, request
from flask_babel import get_locale
from markupsafe import Markup
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from jifen.platform import clock, versions
from jifen.platform.tenancy import current_tenant, current_tenant_id

TTL_SECONDS = 600
LOCAL_ENTRIES = 256  # a local store past this is emptied (tests hold a handful)


class LocalFragments:
    def __init__(self, store: versions.LocalVersions):
        self._store = store
        self._entries: dict[str, tuple[float, int, str]] = {}

    def read(self, scope: str, key: str) -> tuple[int, str | None]:
        """(the scope's version now, the fragment kept under `key` if it was rendered at it)."""
        version = self._store.get(scope)
        hit = self._entries.get(key)
        fresh = hit is not None and hit[0] > time.monotonic() and hit[1] == version
        return version, hit[2] if fresh else None

    def put(self, key: str, version: int, html: str) -> None:
        if len(self._entries) >= LOCAL_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + TTL_SECONDS, version, html)


class RedisFragments:
    """A fragment is kept with the version it was rendered at (`<version>\n<html>`), under a key
    without it: the version and the fragment are read in one round trip, and a newer rendering
    replaces the older one."""

    def __init__(self, store: versions.RedisVersions):
        self._store = store

    def read(self, scope: str, key: str) -> tuple[int, str | None]:
        pipe = self._store.redis.pipeline(transaction=False)
        pipe.get(self._store.key(scope))
        pipe.get(key)
        raw_version, found = pipe.execute()
        version = int(raw_version or 0)
        if found is not None:
            kept, _, html = found.partition(b"\n")
            if int(kept) == version:
                return version, html.decode()
        return version, None

    def put(self, key: str, version: int, html: str) -> None:
        self._store.redis.set(key, f"{version}\n{html}".encode(), ex=TTL_SECONDS)


def _state():
    """(versions, fragments) of the current app, or (None, None) when the cache is off."""
    ext = current_app.extensions
    if "page_cache" not in ext:
        store = versions.store("PAGE_CACHE", "jifen:dataver")
        fragments = (RedisFragments(store) if isinstance(store, versions.RedisVersions)
                     else LocalFragments(store) if store is not None else None)
        ext["page_cache"] = (store, fragments)
    return ext["page_cache"]


def view_of(reader) -> str:
    """The key part that stands for the reader: their kind and grants (see the module's docstring)."""
    grants = sorted((g.role, sorted(map(str, g.scope_ids))) for g in reader.grants)
    return hashlib.sha1(repr((reader.kind, grants)).encode()).hexdigest()[:20]


def fragment(name: str, reader, render: Callable[[], str]) -> Markup:
    """The fragment `name` of the current page for `reader` (an Actor), from the cache when the
    township's data has not changed since it was rendered, else `render()`ed (and kept). Whatever
    `render()` raises (a filter that names nothing, a scope not reached) is raised as without a cache."""
    store, fragments = _state()
    tenant_id = current_tenant_id()
    if store is None or tenant_id is None:
        return Markup(render())
    key = ":".join(("jifen:page", str(tenant_id), name, view_of(reader), str(get_locale()), clock.today().isoformat(),
                    hashlib.sha1(request.full_path.encode()).hexdigest()))
    try:
        version, hit = fragments.read(str(tenant_id), key)
    except Exception:  # Redis unreachable: render, keep nothing
        current_app.logger.warning("page cache: unreachable", exc_info=True)
        return Markup(render())
    if hit is not None:
        return Markup(hit)
    html = render()
    for per_request in (g.get("csp_nonce"), g.get("csrf_token")):
        if per_request and per_request in html:  # would be served to later requests, where it is wrong
            raise RuntimeError(f"page cache: fragment {name!r} carries this request's nonce or CSRF token")
    try:
        fragments.put(key, version, html)
    except Exception:
        current_app.logger.warning("page cache: could not keep a fragment", exc_info=True)
    return Markup(html)


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session) -> None:
    """The township in scope has new data: fragments rendered before are not served again. (The
    township's id is read from its identity when it is a mapped row: after the commit its attributes
    may be expired, and no SQL can run here.)"""
    tenant = current_tenant()
    state = inspect(tenant, raiseerr=False) if tenant is not None else None
    tenant_id = (state.identity or (None,))[0] if state is not None else getattr(tenant, "id", None)
    if tenant_id is None:
        return
    store, _fragments = _state()
    if store is None:
        return
    try:
        store.bump(f"{tenant_id}")
    except Exception:  # committed; fragments of the old version end within TTL_SECONDS
        current_app.logger.error("page cache: could not publish the new data version of %s", tenant_id,
                                 exc_info=True)
