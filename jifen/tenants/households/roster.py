"""The village roster (花名册): template, upload → preview → confirm, export, and the demo's row import.

An upload is stored, read and checked in full (roster_check) and kept as a RosterImport with its
rows as read (staged, so the confirm never parses the workbook again): `previewed` when every row
passes, else `invalid` with each error's row and column. Confirming marks it `importing` and hands
it to a job (roster_job), which checks the rows again against the database as it is now and writes
them a chunk of households per transaction, with its progress, then `imported` (or `invalid` with
the new errors, or `failed` with the reason; confirming a failed import resumes it). One audit
entry per import, not per row.
"""
from __future__ import annotations

import json
import re

from flask_babel import gettext as _
from sqlalchemy import delete, insert, select, text, update

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.bulk import collector_paused
from jifen.platform.db import db, new_id
from jifen.platform.errors import Conflict, Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.files.models import StoredFile
from jifen.platform.files.service import store_spreadsheet
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action, authorize, scope_ids
from jifen.platform.sealed import SealError, seal, unseal
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.households import roster_job
from jifen.tenants.households.models import (
    ACTIVE,
    Household,
    HouseholdEvent,
    HouseholdTag,
    Resident,
    RosterImport,
    sealed_id_columns,
)
from jifen.tenants.households.roster_check import Checker, GridLookup, Plan, TagLookup
from jifen.tenants.households.roster_excel import (
    COLUMNS,
    Row,
    Unreadable,
    read_rows,
    write_roster,
    write_template,
)
from jifen.tenants.households.rules import RELATION_SHEET_WORDS, mask_id_number, mask_phone
from jifen.tenants.households.service import identity_read
from jifen.tenants.villages.models import Village

register_url_object("import_id", RosterImport)

PREVIEWED, INVALID, IMPORTING, FAILED, IMPORTED = "previewed", "invalid", "importing", "failed", "imported"
MAX_ERRORS = 1000  # kept and shown per upload; the count of all is in the summary
CHUNK = 5000
ANALYZE_AFTER = 1000  # new residents after which PostgreSQL's planner statistics are refreshed
TEMPLATE_RELATIONS = ["户主", "配偶", "子", "女", "儿媳", "女婿", "孙子", "孙女", "父亲", "母亲", "兄弟", "姐妹", "其他"]


def _village_choice(actor: Actor, action_name: str, village_id) -> Village | None:
    """The village picked on a form or in a query (None: not picked); one of the actor's."""
    if not village_id:
        return None
    village = tenant_get(Village, village_id)
    allowed = scope_ids(actor, action_name, "village")
    if village is None or (allowed is not None and village.id not in allowed):
        raise InputConflict.field("village_id", _("Choose one of your villages."))
    return village


def villages_for(actor: Actor, action_name: str = "household.import") -> list[Village]:
    """The villages the actor may import into (or export), in pinyin order."""
    allowed = scope_ids(actor, action_name, "village")
    villages = db.session.execute(select(Village)).scalars().all()
    return sorted((v for v in villages if allowed is None or v.id in allowed), key=lambda v: pinyin_key(v.name))


def _checker(actor: Actor, village: Village | None, import_id=None, **kw) -> Checker:
    return Checker(village, scope_ids(actor, "household.import", "village"), actor_id=actor.id,
                   actor_name=actor.name, import_id=import_id, today=clock.today(), **kw)


def _check(actor: Actor, rows: list[Row], village: Village | None, import_id=None, cleaned_rows=False) -> Plan:
    return _checker(actor, village, import_id, cleaned_rows=cleaned_rows).check(rows)


def apply_plan(plan: Plan) -> None:
    """Write a checked plan: bulk inserts and updates by primary key, a few statements in all.
    `render_nulls`: without it the ORM leaves None out of a row's parameters and starts a new batch
    at every row whose empty cells differ from the one before (1,736 statements for 3,549 residents)."""
    plan.add_search_keys()
    for rows in (plan.residents, plan.resident_updates):  # ID numbers are stored sealed (platform/sealed.py)
        for row in rows:
            if "id_number" in row:
                row.update(sealed_id_columns(row.pop("id_number")))
    for model, rows in ((Household, plan.households), (Resident, plan.residents)):
        for i in range(0, len(rows), CHUNK):
            db.session.execute(insert(model).execution_options(render_nulls=True), rows[i:i + CHUNK])
    for model, rows in ((Household, plan.household_updates), (Resident, plan.resident_updates)):
        if rows:
            db.session.execute(update(model), rows)
    for i in range(0, len(plan.tag_deletes), 500):
        db.session.execute(delete(HouseholdTag).where(HouseholdTag.id.in_(plan.tag_deletes[i:i + 500])))
    for model, rows in ((HouseholdTag, plan.tags), (HouseholdEvent, plan.events)):
        for i in range(0, len(rows), CHUNK):
            db.session.execute(insert(model).execution_options(render_nulls=True), rows[i:i + CHUNK])


def analyze_after(residents_created: int) -> None:
    """Until autovacuum gets to them, PostgreSQL plans these tables as if they were still small: an
    export or import right after loading 35,000 residents ran nested loops, 14 s instead of 1 s
    (bench/README.md). ANALYZE counts the new rows; no tenant data."""
    if residents_created >= ANALYZE_AFTER and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE households, residents, household_tags"))


def _staged(rows: list[Row]) -> str:
    """The rows as the upload's check cleaned them, for the confirm: parsing the workbook again was a
    third of its time, and its check need not run the text rules again. JSON {"cleaned": [[number, cells in
    column order, numeric_id], ...]}, sealed like ID numbers (it is full of them)."""
    return seal(json.dumps({"cleaned": [[r.number, [r.cells[k] for k, _h in COLUMNS], r.numeric_id] for r in rows]},
                           ensure_ascii=False, separators=(",", ":")))


def _unstaged(imp: RosterImport) -> tuple[list[Row], list, bool]:
    """(rows, errors reading them, whether they are cleaned) of an import. Rows staged as read (a
    list, before the cleaned ones) are checked in full; an import staged before issue 15, or whose
    seal's key was removed since, reads its stored file again (`reseal-ids` keeps files readable)."""
    try:
        staged = json.loads(unseal(imp.rows_sealed)) if imp.rows_sealed else None
    except SealError:
        staged = None
    if staged is None:
        return *read_rows(tenant_get(StoredFile, imp.file_id).content), False
    cleaned = isinstance(staged, dict)
    keys = [k for k, _h in COLUMNS]
    return ([Row(n, dict(zip(keys, cells, strict=True)), numeric)
             for n, cells, numeric in (staged["cleaned"] if cleaned else staged)], [], cleaned)


def checked_plan(actor: Actor, imp: RosterImport) -> Plan:
    """The import's staged rows checked against the database as it is now (the job's first step)."""
    village = tenant_get(Village, imp.village_id) if imp.village_id else None
    with collector_paused():
        rows, errors, cleaned = _unstaged(imp)
        plan = _check(actor, rows, village, str(imp.id), cleaned_rows=cleaned)
    if errors:
        plan.errors = errors
    return plan


def mark_invalid(imp: RosterImport, plan: Plan) -> None:
    imp.status, imp.errors = INVALID, plan.errors[:MAX_ERRORS]
    imp.summary = {"error_count": len(plan.errors)} | plan.counts


def _in_scope(actor: Actor, imp: RosterImport) -> RosterImport:
    """An import is seen by the township's admins, by the admins of its village and by its uploader."""
    allowed = scope_ids(actor, "household.import", "village")
    if allowed is None or imp.created_by == actor.id or imp.village_id in allowed:
        return imp
    raise NotFound(_("Not found."))


# --- service functions -------------------------------------------------------------------------

@action("household.import")
def template(actor: Actor, village_id=None) -> bytes:
    """The empty roster workbook, its 填写说明 sheet listing the micro grids of the actor's villages
    (or of the village chosen) and the tag names."""
    chosen = _village_choice(actor, "household.import", village_id)
    villages = [chosen] if chosen else villages_for(actor)
    grid = GridLookup({v.id: v.name for v in villages})
    grids = [(v.name, label) for v in villages for label in grid.micro_labels(v.id)]
    tags = TagLookup.load()
    return write_template([v.name for v in villages], grids, sorted(set(tags.names.values()), key=pinyin_key),
                          TEMPLATE_RELATIONS)


@action("household.import")
def upload(actor: Actor, file, village_id=None) -> RosterImport:
    """Store and check an uploaded roster. Refuses (Invalid on `file`) what is not a readable .xlsx,
    then (InputConflict on `village_id`) a village that is not one of the actor's; anything wrong
    inside the sheet becomes the import's list of errors (status invalid)."""
    stored = store_spreadsheet(actor, file, "file")
    try:
        with collector_paused():
            rows, errors = read_rows(stored.content)
    except Unreadable:
        raise Invalid.field("file", _("This file cannot be read as an Excel workbook (.xlsx): it is damaged or "
                                      "another kind of file. Open it in Excel or WPS and save it as .xlsx "
                                      "again.")) from None
    village = _village_choice(actor, "household.import", village_id)  # after the file's own checks
    imp = RosterImport(id=new_id(), file_id=stored.id, village_id=village.id if village else None,
                       row_count=len(rows), created_by=actor.id if actor.kind == "user" else None)
    with collector_paused():  # staging too: a collection mid-way walked all 35,000 rows (0.3 s of 2,000 households)
        checker = None if errors else _checker(actor, village, str(imp.id), preview=True)
        plan = None if checker is None else checker.check(rows)
        errors = errors or plan.errors
        imp.rows_sealed = None if errors else _staged(checker.cleaned)
    imp.status = INVALID if errors else PREVIEWED
    imp.errors = errors[:MAX_ERRORS]
    imp.summary = {"error_count": len(errors)} | (plan.counts if plan is not None else {})
    db.session.add(imp)
    db.session.flush()
    record(actor, "household.import_preview", imp,
           after={"status": imp.status, "rows": imp.row_count, "errors": len(errors), "file": stored.filename})
    return imp


@action("household.import")
def get_import(actor: Actor, import_id) -> RosterImport:
    imp = tenant_get_or_404(RosterImport, import_id)
    return _in_scope(actor, imp)


@action("household.import")
def recent_imports(actor: Actor, limit: int = 20) -> list[RosterImport]:
    q = select(RosterImport).order_by(RosterImport.created_at.desc()).limit(limit)
    allowed = scope_ids(actor, "household.import", "village")
    if allowed is not None:
        q = q.where(RosterImport.village_id.in_(allowed) | (RosterImport.created_by == actor.id))
    return db.session.execute(q).scalars().all()


def file_names(imports) -> dict:
    """file id -> the uploaded file's name, for listing imports."""
    ids = [i.file_id for i in imports]
    if not ids:
        return {}
    return dict(db.session.execute(select(StoredFile.id, StoredFile.filename).where(StoredFile.id.in_(ids))).all())


@action("household.import")
def confirm(actor: Actor, import_id) -> RosterImport:
    """Start importing a previewed roster (or resume a failed or stalled one): the job does the work
    after this request commits (roster_job). A roster is imported once: confirming an import that
    is being imported returns it as it is (the same job); an imported or invalid one is a Conflict."""
    imp = roster_job.lock(import_id)
    if imp is None:
        raise NotFound(_("Not found."))
    _in_scope(actor, imp)
    if imp.status == IMPORTED:
        raise Conflict(_("This roster has already been imported."))
    if imp.status == INVALID:
        raise Conflict(_("This roster has errors and cannot be imported; correct the file and upload it again."))
    if imp.status == IMPORTING and not roster_job.stalled(imp):
        return imp
    imp.status, imp.failure, imp.progress_at = IMPORTING, None, clock.now()
    imp.confirmed_by = actor.id if actor.kind == "user" else None
    roster_job.enqueue(imp)
    return imp


def percent(imp: RosterImport) -> int:
    return 100 if imp.status == IMPORTED or not imp.row_count else min(100, int(100 * imp.rows_done / imp.row_count))


@action("household.import")
def import_rows(actor: Actor, records: list[dict]) -> dict:
    """Import rows given as dicts keyed like the sheet's columns (village, grid, door_plate, name,
    relation, phone, id_number, tags, note), through the same checks, with no file: the demo's
    path. All or nothing; when nothing changes nothing is written (not even an audit entry)."""
    rows = [Row(number, {k: str(rec.get(k) or "").strip() for k, _h in COLUMNS})
            for number, rec in enumerate(records, start=2)]
    plan = _check(actor, rows, None)
    if plan.errors:
        raise Invalid(_("The rows have errors."),
                      {"rows": [f"{e['row']} {e['column'] or ''}: {e['message']}" for e in plan.errors[:50]]})
    if plan.changes:
        apply_plan(plan)
        analyze_after(len(plan.residents))
        record(actor, "household.import", object_type="households", after=plan.counts | {"source": "rows"})
    return plan.counts


def _plate_key(plate: str) -> list:
    """上屋组2号 before 上屋组18号."""
    return [int(p) if p.isdigit() else pinyin_key(p) for p in re.split(r"(\d+)", plate)]


@action("household.export")
def export(actor: Actor, village_id=None, masked: bool = False) -> bytes:
    """The roster of the actor's villages (or of one), in the import's columns, so that it imports
    back to no change. ID numbers and phones are masked where the actor may not see them, or
    everywhere when `masked` is asked for; an import ignores masked cells."""
    chosen = _village_choice(actor, "household.export", village_id)
    villages = [chosen] if chosen else villages_for(actor, "household.export")
    full = {v.id for v in villages if not masked and _may_view_ids(actor, v)}
    names = {v.id: v.name for v in villages}
    grid, tags = GridLookup(names), TagLookup.load()
    active = (Household.status == ACTIVE, Household.village_id.in_(list(names)))
    households = db.session.execute(select(Household.id, Household.village_id, Household.door_plate,
                                           Household.grid_node_id, Household.note).where(*active)).all()
    households.sort(key=lambda h: (pinyin_key(names[h.village_id]), _plate_key(h.door_plate)))
    members: dict = {}
    for r in db.session.execute(select(Resident.household_id, Resident.name, Resident.relation, Resident.phone,
                                       Resident.id_number_sealed)
                                .join(Household, Household.id == Resident.household_id)
                                .where(*active, Resident.left_on.is_(None))
                                .order_by(Resident.sort_order, Resident.created_at)).all():
        members.setdefault(r.household_id, []).append(r)
    tag_codes: dict = {}
    for t in db.session.execute(select(HouseholdTag.household_id, HouseholdTag.tag)
                                .join(Household, Household.id == HouseholdTag.household_id).where(*active)).all():
        tag_codes.setdefault(t.household_id, set()).add(t.tag)
    rows, revealed = [], 0
    for h in households:
        shown = h.village_id in full
        labels = [names[h.village_id], grid.label(h.grid_node_id) if h.grid_node_id in grid.nodes else "",
                  h.door_plate]
        household_tags, note = tags.text(tag_codes.get(h.id, ())), h.note or ""
        for r in sorted(members.get(h.id, []), key=lambda r: r.relation != "head"):
            number = unseal(r.id_number_sealed)
            revealed += bool(shown and number)
            rows.append(labels + [r.name, RELATION_SHEET_WORDS.get(r.relation, r.relation),
                                  (r.phone if shown else mask_phone(r.phone)) or "",
                                  (number if shown else mask_id_number(number)) or "",
                                  household_tags, note])
    identity_read(actor, chosen, purpose="roster_export", count=revealed, object_type=None if chosen else "roster",
                  village_ids=sorted(str(v) for v in full))
    return write_roster(rows)


def _may_view_ids(actor: Actor, village: Village) -> bool:
    try:
        authorize(actor, "household.view_id_numbers", village)
    except (Forbidden, NotFound):
        return False
    return True
