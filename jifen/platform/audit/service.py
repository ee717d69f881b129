"""Write and verify the audit chain.

`record()` adds an entry to the caller's transaction (it never commits): the entry lands if and
only if the change it describes lands. The tenant's chain head is locked FOR UPDATE so concurrent
writers queue instead of forking the chain.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from types import SimpleNamespace

from flask import g, has_request_context
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.audit.anchor import newest_anchor
from jifen.platform.audit.models import AuditEntry, AuditHead
from jifen.platform.db import db
from jifen.platform.roles.authz import Actor, action
from jifen.platform.tenancy import current_tenant_id, insert_new

GENESIS = "0" * 64


def _canonical(entry: AuditEntry) -> str:
    body = {
        "tenant_id": str(entry.tenant_id),
        "seq": entry.seq,
        "created_at": entry.created_at.isoformat(),
        "actor": [entry.actor_kind, str(entry.actor_id) if entry.actor_id else None, entry.actor_name],
        "action": entry.action,
        "object": [entry.object_type, entry.object_id],
        "before": entry.before,
        "after": entry.after,
        "request_id": entry.request_id,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + _canonical(entry)).encode()).hexdigest()


def _head():
    tenant_id = current_tenant_id()
    head = db.session.execute(
        select(AuditHead).where(AuditHead.tenant_id == tenant_id).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(tenant_id=tenant_id, seq=0, entry_hash=GENESIS)
        db.session.add(head)
    return head


def _append(head: AuditHead, actor: Actor, action_name: str, obj=None, *, object_type: str | None = None,
            object_id=None, before: dict | None = None, after: dict | None = None) -> SimpleNamespace:
    """The next entry's values (hashed onto the chain; the head moves on), not yet a row."""
    entry = SimpleNamespace(
        tenant_id=head.tenant_id,
        seq=head.seq + 1,
        created_at=clock.now().replace(microsecond=0),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action_name,
        object_type=object_type or (obj.__tablename__ if obj is not None else "none"),
        object_id=str(object_id if object_id is not None else getattr(obj, "id", "")) or None,
        before=before,
        after=after,
        request_id=g.get("request_id") if has_request_context() else None,
        prev_hash=head.entry_hash,
    )
    entry.entry_hash = entry_hash(head.entry_hash, entry)
    head.seq, head.entry_hash = entry.seq, entry.entry_hash
    return entry


def record(actor: Actor, action_name: str, obj=None, **kw) -> AuditEntry:
    entry = AuditEntry(**vars(_append(_head(), actor, action_name, obj, **kw)))
    db.session.add(entry)
    return entry


def record_many(items: list[tuple]) -> None:
    """Append several entries under one head lock: `items` are (actor, action, obj, kwargs)."""
    if not items:
        return
    head = _head()
    insert_new(AuditEntry, [vars(_append(head, actor, action_name, obj, **kw)) for actor, action_name, obj, kw in items])


@dataclass
class ChainReport:
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS


def verify_chain(batch: int = 1000) -> ChainReport:
    """Recompute every hash of the current tenant's chain up to its head, in order, and check that
    it still reaches the newest anchor (see anchor.py) with the anchored hash.

    The head is read first and only entries up to it are checked, so entries appended meanwhile
    don't look like a break. Entries are read in keyset batches (no server-side cursor, so it
    works inside or outside a transaction; the session holds loaded rows only weakly).
    """
    head = db.session.execute(
        select(AuditHead).where(AuditHead.tenant_id == current_tenant_id())
    ).scalar_one_or_none()
    last_seq = head.seq if head is not None else 0
    anchor = newest_anchor()
    if anchor is not None and anchor["seq"] > last_seq:
        return ChainReport(0, False, last_seq + 1,
                           f"entries {last_seq + 1} to {anchor['seq']} are missing: the chain check of "
                           f"{anchor['date']} anchored entry {anchor['seq']}", last_seq)
    prev, expected_seq, count = GENESIS, 1, 0
    while expected_seq <= last_seq:
        rows = db.session.execute(
            select(AuditEntry).where(AuditEntry.seq >= expected_seq, AuditEntry.seq <= last_seq)
            .order_by(AuditEntry.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return ChainReport(count, False, expected_seq, f"entry {expected_seq} is missing", last_seq)
        for entry in rows:
            count += 1
            if entry.seq != expected_seq:
                return ChainReport(count, False, expected_seq, f"entry {expected_seq} is missing", last_seq)
            if entry.prev_hash != prev or entry_hash(prev, entry) != entry.entry_hash:
                return ChainReport(count, False, entry.seq, "hash mismatch", last_seq)
            if anchor is not None and entry.seq == anchor["seq"] and entry.entry_hash != anchor["hash"]:
                return ChainReport(count, False, entry.seq, f"entry {entry.seq} differs from the chain "
                                   f"check's anchor of {anchor['date']}", last_seq)
            prev, expected_seq = entry.entry_hash, expected_seq + 1
    if head is not None and head.entry_hash != prev:
        return ChainReport(count, False, head.seq, "chain head does not match the last entry", last_seq)
    return ChainReport(count, True, head_seq=last_seq, head_hash=prev)


@action("audit.verify")
def verify(actor: Actor) -> ChainReport:
    return verify_chain()


@action("audit.list")
def list_entries(actor: Actor, *, limit: int = 100, before_seq: int | None = None):
    q = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if before_seq:
        q = q.where(AuditEntry.seq < before_seq)
    return db.session.execute(q).scalars().all()
