"""Exporting a township's data and offboarding it (suspend -> export -> delete after a grace period).

Invariants:
* A township is never deleted unless it was exported after its offboarding started: `delete_due`
  holds a due township with no `township.export` county record since its latest `township.offboard`
  one ("waiting for an export", shown on the county console, its jobs page and the API) and records
  the hold once (`township.delete_held`). The hold ends with the next export, whoever takes it.
* Every text cell of an export goes through `platform.spreadsheet` (formula injection): the xlsx
  writer's `cell`/`append`, the CSV writer's `csv_text`. There is no other path into an export.
* Memory stays bounded whatever the township's size: rows are read `yield_per`, each workbook is
  written write-only (openpyxl keeps a sheet's rows in a temporary file) and saved to a temporary
  file before it goes into the zip, and stored files are read one at a time.

The export is a zip with, per table the township owns (foreign-key order), either `<table>.xlsx`
(the default: what township staff open; one sheet, continued on sheets "<table> 2", "<table> 3"…
past Excel's 1,048,576 rows a sheet) or `<table>.csv` (UTF-8 with BOM, so Excel and WPS open it
as such); `files/<file id>-<filename>` with the bytes of every uploaded file, read through
`StoredFile.content` (the one read path: sealed rosters are opened, other storage behind it works
the same); and `manifest.json` with the format, the row counts and the file count. ID numbers go
out opened (`OPENED_COLUMNS`), counted in the export's records. Left out: password and credential
hashes, a setup link's sealed secret, keyed hashes, and binary columns (the `stored_files` table keeps the metadata; its `sha256`
is that of the file in `files/`).

Offboarding suspends the township (if it is not already) and sets `delete_after` to now plus
`OFFBOARD_GRACE_DAYS`; the operator exports during the grace period, or cancels (the township stays
suspended until reactivated). `delete_due` (an hourly beat task, and the CLI) then deletes every
row of each due, exported township, table by table children first, its audit chain included, and
its uploads in the object store (platform/files/storage.py) when there is one; the county keeps
`CountyRecord`s of the request, the exports, a hold and the deletion with its row counts.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import re
import shutil
import tempfile
import zipfile
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from openpyxl import Workbook
from sqlalchemy import LargeBinary, delete, exists, func, select, tuple_
from sqlalchemy.orm import undefer

from jifen.platform import clock, sealed, spreadsheet
from jifen.platform.audit.models import AuditHead
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict, Invalid
from jifen.platform.files import storage
from jifen.platform.files.models import StoredFile
from jifen.platform.roles.authz import Actor, action
from jifen.platform.tenancy import tenant_scope, tenant_tables
from jifen.platform.townships import lookup
from jifen.platform.townships.models import CountyRecord, Tenant
from jifen.platform.townships.service import get_township, snapshot

log = logging.getLogger(__name__)

SECRET_COLUMNS = {"password_hash", "token_hash", "secret_sealed"}
# Sealed columns go out opened, under their plain name (the township's own data, given back usable:
# the keys stay with Jifen, and the township's rows are deleted after the export); their keyed
# hashes, useless without Jifen's key, stay out. The export's audit entries count them.
OPENED_COLUMNS = {"id_number_sealed": "id_number"}
KEYED_HASH_COLUMNS = {"id_number_hmac"}


def _county_record(actor: Actor, tenant: Tenant, action_name: str, details: dict | None = None) -> None:
    db.session.add(CountyRecord(county_id=tenant.county_id, actor_kind=actor.kind, actor_id=actor.id,
                                actor_name=actor.name or "", action=action_name, tenant_id=tenant.id,
                                tenant_slug=tenant.slug, tenant_name=tenant.name, details=details))


FORMATS = ("xlsx", "csv")
DEFAULT_FORMAT = "xlsx"
SHEET_ROWS = 1_048_575  # Excel's rows per sheet (1,048,576) less the header row
EXACT_INT = 10 ** 15  # larger integers would lose digits as an Excel number: written as text


def _write_zip(tenant: Tenant, out, fmt: str) -> tuple[dict, int, int]:
    """Write the export into the file `out`: (row counts per table, number of files, sealed values
    opened)."""
    counts, opened = {}, [0]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for table in tenant_tables():
            columns = [c for c in table.c if c.name not in SECRET_COLUMNS | KEYED_HASH_COLUMNS
                       and not isinstance(c.type, LargeBinary)]
            rows = db.session.execute(
                select(*columns).where(table.c.tenant_id == tenant.id).order_by(*table.primary_key.columns)
                .execution_options(all_tenants=True, yield_per=2000))  # this one township, by hand
            write = _xlsx_table if fmt == "xlsx" else _csv_table
            counts[table.name] = write(zf, table.name, [OPENED_COLUMNS.get(c.name, c.name) for c in columns],
                                       _opened(rows, [c.name in OPENED_COLUMNS for c in columns], opened))
        files = _write_files(zf, tenant)
        zf.writestr("manifest.json", json.dumps({
            "township": snapshot(tenant) | {"id": str(tenant.id)}, "exported_at": clock.now().isoformat(),
            "format": fmt, "tables": counts, "files": files}, ensure_ascii=False, indent=2))
    return counts, files, opened[0]


def _opened(rows, sealed_at: list[bool], opened: list[int]):
    """The rows with their sealed values opened; `opened[0]` counts the values opened."""
    if not any(sealed_at):
        yield from rows
        return
    for row in rows:
        out = list(row)
        for i, is_sealed in enumerate(sealed_at):
            if is_sealed and out[i]:
                out[i] = sealed.unseal(out[i])
                opened[0] += 1
        yield out


def _csv_table(zf: zipfile.ZipFile, name: str, header: list, rows) -> int:
    n = 0
    with zf.open(f"{name}.csv", "w", force_zip64=True) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        for row in rows:
            writer.writerow([spreadsheet.csv_text(_plain(v)) for v in row])
            n += 1
        text.flush()
        text.detach()
    return n


def _xlsx_table(zf: zipfile.ZipFile, name: str, header: list, rows) -> int:
    """One workbook; a new sheet (same header) every SHEET_ROWS rows."""
    book = Workbook(write_only=True)
    n, sheet = 0, None
    for row in rows:
        if n % SHEET_ROWS == 0:
            sheet = _sheet(book, name, n // SHEET_ROWS + 1, header)
        spreadsheet.append(sheet, [_xlsx_value(v) for v in row])
        n += 1
    if sheet is None:
        _sheet(book, name, 1, header)
    with tempfile.TemporaryFile() as tmp:
        book.save(tmp)
        tmp.seek(0)
        # already deflated inside: stored as it is
        with zf.open(zipfile.ZipInfo(f"{name}.xlsx", _zip_time()), "w", force_zip64=True) as dst:
            shutil.copyfileobj(tmp, dst)
    return n


def _sheet(book: Workbook, name: str, part: int, header: list):
    title = name[:31] if part == 1 else f"{name[:24]} {part}"  # Excel: at most 31 characters
    sheet = book.create_sheet(title)
    spreadsheet.append(sheet, header)
    return sheet


def _write_files(zf: zipfile.ZipFile, tenant: Tenant) -> int:
    """Every uploaded file as files/<id>-<filename>, one in memory at a time."""
    with tenant_scope(tenant):
        ids = db.session.execute(select(StoredFile.id).order_by(StoredFile.id)).scalars().all()
        for file_id in ids:
            stored = db.session.execute(select(StoredFile).options(undefer(StoredFile.data))
                                        .where(StoredFile.id == file_id)).scalar_one()
            compress = zipfile.ZIP_STORED if stored.kind == "image" else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo(file_member(stored), _zip_time())
            info.compress_type = compress
            zf.writestr(info, stored.content)
            db.session.expunge(stored)
    return len(ids)


def file_member(stored: StoredFile) -> str:
    """The file's name in the zip: its id (unique) and its own name without any path in it."""
    safe = re.sub(r"[\\/\x00-\x1f\x7f:]", "_", stored.filename).strip(" .") or "file"
    return f"files/{stored.id}-{safe}"


def _zip_time() -> tuple:
    return clock.now().timetuple()[:6]


def _xlsx_value(value):
    """Numbers and booleans as such; everything else as the text the CSV has."""
    if value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < EXACT_INT):
        return value
    if isinstance(value, float):
        return value
    return _plain(value)


def _plain(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@action("township.export")
def export(actor: Actor, slug: str, fmt: str = DEFAULT_FORMAT):
    """The township's data as a zip in a temporary file (rewound), and its file name. Recorded at
    county level (with the format, row and file counts) and in the township's chain; an export
    taken after the offboarding started lets `delete_due` delete the township."""
    if fmt not in FORMATS:
        raise Invalid.field("format", _("Choose xlsx or csv."))
    tenant = get_township(actor, slug)
    out = tempfile.TemporaryFile()
    try:
        counts, files, opened = _write_zip(tenant, out, fmt)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    details = {"format": fmt, "rows": sum(counts.values()), "files": files, "id_numbers": opened}
    _county_record(actor, tenant, "township.export", details)
    with tenant_scope(tenant):
        record(actor, "township.export", tenant, object_type="township", after=details)
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
    if tenant.deletion is not None:
        raise Conflict(_("The township's data is being deleted; it cannot be changed any more."),
                       {"status": [tenant.status]})
    tenant.delete_after = None
    _county_record(actor, tenant, "township.offboard_cancel")
    with tenant_scope(tenant):
        record(actor, "township.offboard_cancel", tenant, object_type="township", after=snapshot(tenant))
    return tenant


DELETE_CHUNK = 5000  # rows a deletion commits at a time


def delete_township(tenant: Tenant, actor: Actor) -> dict:
    """Delete every row of the township, children first, in chunks of DELETE_CHUNK rows that each commit
    with the progress in `tenant.deletion`; then the township itself and its uploads in the bucket
    (its key prefix, when a bucket is configured or a row of it named an object). A run stopped
    midway (a time limit, a killed worker) lost at most its last chunk: the township is still due,
    and the next run goes on from what is left. Returns the rows deleted per table (over all runs).
    The objects go before the last commit: if that fails, the next run deletes them again (an
    absent prefix is harmless)."""
    if tenant.deletion is None:
        in_bucket = db.session.execute(
            select(func.count()).select_from(StoredFile).where(StoredFile.tenant_id == tenant.id,
                                                               StoredFile.storage_key.is_not(None))
            .execution_options(all_tenants=True)).scalar()  # this one township, by hand
        total = rows_of(tenant.id)
        heads = db.session.execute(delete(AuditHead).where(AuditHead.tenant_id == tenant.id)).rowcount  # the chain may go now
        tenant.deletion = {"started_at": clock.now().isoformat(), "total": total, "deleted": heads,
                           "table": AuditHead.__tablename__, "rows": {AuditHead.__tablename__: heads} if heads else {},
                           "objects": bool(in_bucket)}
        db.session.commit()
    for table in reversed(tenant_tables()):
        while n := db.session.execute(_chunk_delete(table, tenant.id, DELETE_CHUNK)).rowcount:
            progress = dict(tenant.deletion)
            progress["rows"] = progress["rows"] | {table.name: progress["rows"].get(table.name, 0) + n}
            progress["deleted"] += n
            progress["table"] = table.name
            tenant.deletion = progress
            db.session.commit()
    counts = tenant.deletion["rows"]
    details = {"rows": counts}
    if tenant.deletion.get("objects") or storage.configured():
        details["objects"] = storage.delete_prefix(storage.tenant_prefix(tenant.id))
    _county_record(actor, tenant, "township.delete", details)
    lookup.forget(tenant.slug)
    db.session.delete(tenant)
    db.session.flush()
    return counts


def _chunk_delete(table, tenant_id, chunk: int):
    """DELETE of at most `chunk` of the township's rows of `table`. A table whose rows name other
    rows of it (a merged household, a reversal) loses only rows no remaining row names, so no
    foreign key is broken between chunks."""
    pk = list(table.primary_key.columns)
    pick = select(*pk).where(table.c.tenant_id == tenant_id)
    for fk in table.foreign_key_constraints:
        if fk.referred_table is table:
            other = table.alias()
            pick = pick.where(~exists().where(*[other.c[e.parent.name] == table.c[e.column.name]
                                                for e in fk.elements]))
    picked = pick.limit(chunk).subquery()
    return (delete(table).where(tuple_(*pk).in_(select(*picked.c)))
            .execution_options(all_tenants=True))  # this one township, by hand


def awaiting_export(tenants: list[Tenant]) -> set:
    """Ids of those of `tenants` being offboarded with no export since their offboarding started
    (the latest `township.offboard` record): they are not deleted until someone exports them."""
    ids = [t.id for t in tenants if t.delete_after is not None]
    if not ids:
        return set()
    started = (select(CountyRecord.tenant_id, func.max(CountyRecord.created_at).label("at"))
               .where(CountyRecord.action == "township.offboard", CountyRecord.tenant_id.in_(ids))
               .group_by(CountyRecord.tenant_id).subquery())
    exported = db.session.execute(
        select(CountyRecord.tenant_id).join(started, started.c.tenant_id == CountyRecord.tenant_id)
        .where(CountyRecord.action == "township.export", CountyRecord.created_at >= started.c.at)).scalars()
    return set(ids) - set(exported)


def _hold_recorded(tenant: Tenant) -> bool:
    """Whether this offboarding's hold is already in the county records (recorded once, not hourly)."""
    since = select(func.max(CountyRecord.created_at)).where(
        CountyRecord.action == "township.offboard", CountyRecord.tenant_id == tenant.id).scalar_subquery()
    return db.session.execute(select(func.count()).select_from(CountyRecord).where(
        CountyRecord.action == "township.delete_held", CountyRecord.tenant_id == tenant.id,
        CountyRecord.created_at >= func.coalesce(since, tenant.created_at))).scalar() > 0


def delete_due(now=None) -> tuple[list[tuple[str, int]], list[str]]:
    """Delete the townships whose grace period has ended and that were exported since their
    offboarding started, each in its own transaction (commits): ([(slug, rows deleted)], [slugs held,
    waiting for an export]). A hold is recorded once per offboarding (county record and chain)."""
    now = now or clock.now()
    due = db.session.execute(select(Tenant).where(Tenant.delete_after.is_not(None), Tenant.delete_after <= now,
                                                  Tenant.status == Tenant.SUSPENDED)
                             .order_by(Tenant.slug)).scalars().all()
    waiting = awaiting_export(due)
    done, held = [], []
    system = Actor.system("offboarding", None)
    for tenant in due:
        slug = tenant.slug
        if tenant.id in waiting:
            held.append(slug)
            log.warning("township %s: grace period over, not deleted: waiting for an export", slug,
                        extra={"township": slug})
            if not _hold_recorded(tenant):
                details = {"delete_after": tenant.delete_after.isoformat()}
                _county_record(system, tenant, "township.delete_held", details)
                with tenant_scope(tenant):
                    record(system, "township.delete_held", tenant, object_type="township", after=details)
                db.session.commit()
            continue
        counts = delete_township(tenant, system)
        db.session.commit()
        done.append((slug, sum(counts.values())))
    return done, held


def county_records(actor: Actor) -> list[CountyRecord]:
    return db.session.execute(select(CountyRecord).where(CountyRecord.county_id == actor.county_id)
                              .order_by(CountyRecord.created_at.desc())).scalars().all()


def rows_of(tenant_id) -> int:
    """Rows the township still owns, over every tenant table (tests, and the CLI's check)."""
    return sum(db.session.execute(select(func.count()).select_from(t).where(t.c.tenant_id == tenant_id)
                                  .execution_options(all_tenants=True)).scalar() for t in tenant_tables())
