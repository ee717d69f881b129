"""Exporting a township's data and offboarding it (suspend -> export -> delete after a grace period).

The export is a zip with one CSV per table the township owns (UTF-8 with BOM, so Excel and WPS
open it as such; text a spreadsheet would run is neutralised, see `platform.spreadsheet`), plus
`manifest.json` with the row counts. Secrets are left out: password and credential hashes.

Offboarding suspends the township (if it is not already) and sets `delete_after` to now plus
`OFFBOARD_GRACE_DAYS`; the operator downloads the export during the grace period, or cancels (the
township stays suspended until reactivated). `delete_due` (a beat task, and the CLI) then deletes
every row of the township, table by table children first, its audit chain included, and its
uploads in the object store (platform/files/storage.py) when there is one; the county
keeps `CountyRecord`s of the request, the exports and the deletion with its row counts.
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from jifen.platform import clock
from jifen.platform.audit.models import AuditHead
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict
from jifen.platform.files import storage
from jifen.platform.files.models import StoredFile
from jifen.platform.roles.authz import Actor, action
from jifen.platform.spreadsheet import csv_text
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships import lookup
from jifen.platform.townships.models import CountyRecord, Tenant
from jifen.platform.townships.service import get_township, snapshot

SECRET_COLUMNS = {"password_hash", "token_hash"}


def tenant_tables() -> list:
    """Every table with a `tenant_id` column, parents before children (foreign-key order)."""
    return [t for t in db.metadata.sorted_tables if "tenant_id" in t.c and t.name != "county_records"]


def _county_record(actor: Actor, tenant: Tenant, action_name: str, details: dict | None = None) -> None:
    db.session.add(CountyRecord(county_id=tenant.county_id, actor_kind=actor.kind, actor_id=actor.id,
                                actor_name=actor.name or "", action=action_name, tenant_id=tenant.id,
                                tenant_slug=tenant.slug, tenant_name=tenant.name, details=details))


def _write_zip(tenant: Tenant, out) -> dict:
    counts = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for table in tenant_tables():
            columns = [c for c in table.c if c.name not in SECRET_COLUMNS]
            rows = db.session.execute(
                select(*columns).where(table.c.tenant_id == tenant.id).order_by(*table.primary_key.columns)
                .execution_options(all_tenants=True, yield_per=2000))  # this one township, by hand
            n = 0
            with zf.open(f"{table.name}.csv", "w") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                writer = csv.writer(text)
                writer.writerow([c.name for c in columns])
                for row in rows:
                    writer.writerow([csv_text(_plain(v)) for v in row])
                    n += 1
                text.flush()
                text.detach()
            counts[table.name] = n
        zf.writestr("manifest.json", json.dumps({
            "township": snapshot(tenant) | {"id": str(tenant.id)}, "exported_at": clock.now().isoformat(),
            "tables": counts}, ensure_ascii=False, indent=2))
    return counts


def _plain(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@action("township.export")
def export(actor: Actor, slug: str):
    """The township's data as a zip in a temporary file (rewound), and its file name. Recorded at
    county level (with the row counts) and in the township's chain."""
    tenant = get_township(actor, slug)
    out = tempfile.TemporaryFile()
    counts = _write_zip(tenant, out)
    out.seek(0)
    _county_record(actor, tenant, "township.export", {"rows": sum(counts.values())})
    with tenant_scope(tenant):
        record(actor, "township.export", tenant, object_type="township", after={"rows": sum(counts.values())})
    return out, f"{tenant.slug}-{clock.now().strftime('%Y%m%d-%H%M')}.zip"


@action("township.offboard")
def offboard(actor: Actor, slug: str, reason: str | None = None) -> Tenant:
    """Suspend (if active) and schedule the deletion after the grace period."""
    tenant = get_township(actor, slug)
    if tenant.delete_after is not None:
        raise Conflict(_("This township is already being offboarded."), {"status": [tenant.status]})
    lookup.forget(tenant.slug)
    before = snapshot(tenant)
    now = clock.now()
    if tenant.status != Tenant.SUSPENDED:
        tenant.status, tenant.status_changed_at = Tenant.SUSPENDED, now
    tenant.status_reason = (reason or "").strip()[:200] or _("Offboarding")
    tenant.delete_after = now + timedelta(days=current_app.config["OFFBOARD_GRACE_DAYS"])
    details = {"delete_after": tenant.delete_after.isoformat(), "reason": tenant.status_reason}
    _county_record(actor, tenant, "township.offboard", details)
    with tenant_scope(tenant):
        record(actor, "township.offboard", tenant, object_type="township", before=before,
               after=snapshot(tenant) | details)
    return tenant


@action("township.offboard")
def cancel_offboarding(actor: Actor, slug: str) -> Tenant:
    """Keep the township (it stays suspended until reactivated)."""
    tenant = get_township(actor, slug)
    if tenant.delete_after is None:
        raise Conflict(_("This township is not being offboarded."), {"status": [tenant.status]})
    tenant.delete_after = None
    _county_record(actor, tenant, "township.offboard_cancel")
    with tenant_scope(tenant):
        record(actor, "township.offboard_cancel", tenant, object_type="township", after=snapshot(tenant))
    return tenant


def delete_township(tenant: Tenant, actor: Actor) -> dict:
    """Delete every row of the township, children first, then the township itself, and its uploads
    in the bucket (its key prefix, when a bucket is configured or a row of it named an object).
    Flushes. The objects go before the caller commits: if the commit then fails, the township is
    still due and the next run deletes its rows (deleting an absent prefix again is harmless)."""
    counts = {}
    in_bucket = db.session.execute(
        select(func.count()).select_from(StoredFile).where(StoredFile.tenant_id == tenant.id,
                                                           StoredFile.storage_key.is_not(None))
        .execution_options(all_tenants=True)).scalar()  # this one township, by hand
    db.session.execute(delete(AuditHead).where(AuditHead.tenant_id == tenant.id))  # the chain may go now
    for table in reversed(tenant_tables()):
        n = db.session.execute(delete(table).where(table.c.tenant_id == tenant.id)
                               .execution_options(all_tenants=True)).rowcount  # this one township, by hand
        if n:
            counts[table.name] = n
    details = {"rows": counts}
    if in_bucket or storage.configured():
        details["objects"] = storage.delete_prefix(storage.tenant_prefix(tenant.id))
    _county_record(actor, tenant, "township.delete", details)
    lookup.forget(tenant.slug)
    db.session.delete(tenant)
    db.session.flush()
    return counts


def delete_due(now=None) -> list[tuple[str, int]]:
    """Delete the townships whose grace period has ended, each in its own transaction (commits)."""
    now = now or clock.now()
    due = db.session.execute(select(Tenant.id).where(Tenant.delete_after.is_not(None), Tenant.delete_after <= now,
                                                     Tenant.status == Tenant.SUSPENDED)).scalars().all()
    done = []
    for tenant_id in due:
        tenant = db.session.get(Tenant, tenant_id)
        counts = delete_township(tenant, Actor.system("offboarding", None))
        slug = tenant.slug
        db.session.commit()
        done.append((slug, sum(counts.values())))
    return done


def county_records(actor: Actor) -> list[CountyRecord]:
    return db.session.execute(select(CountyRecord).where(CountyRecord.county_id == actor.county_id)
                              .order_by(CountyRecord.created_at.desc())).scalars().all()


def rows_of(tenant_id) -> int:
    """Rows the township still owns, over every tenant table (tests, and the CLI's check)."""
    return sum(db.session.execute(select(func.count()).select_from(t).where(t.c.tenant_id == tenant_id)
                                  .execution_options(all_tenants=True)).scalar() for t in tenant_tables())
