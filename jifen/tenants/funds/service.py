"""Fund coverage services: the township's settings, funding records (append-only, a mistake is
reversed), and reading the nightly coverage snapshots.

Input fields (pages and API alike):
* settings: `point_value` (yuan per point, e.g. "0.80"; empty: derived from the catalog) and
  `coverage_warn_pct` (whole percent, 1-1000);
* a record: `kind` (budget, donation, collective_income), `amount` (yuan above zero, at most two
  decimals, kept as fen), `received_on` (YYYY-MM-DD, not after today), `store_id` (optional: one
  of the township's stores; none for money the township holds for all its stores), `note`;
* a reversal: `reason` (required).
"""
from __future__ import annotations

from datetime import date, timedelta

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import InputConflict, Invalid
from jifen.platform.input import FIRST_YEAR, Day, Text, Uuid, Whole, check
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize, may
from jifen.platform.roles.registry import TOWNSHIP_ADMIN, register_scope_path, register_scope_where
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.dividends.pools import amount_to_fen, yuan
from jifen.tenants.funds import coverage
from jifen.tenants.funds.models import DEFAULT_WARN_PCT, KINDS, FundCoverage, FundRecord, FundSettings
from jifen.tenants.notifications.digest_sources import register_digest_source
from jifen.tenants.store.models import Store
from jifen.tenants.villages.models import Village
from jifen.tenants.villages.scopes import village_choices

register_url_object("fund_record_id", FundRecord)

KIND_LABELS = {"budget": _l("Budget"), "donation": _l("Donation"), "collective_income": _l("Collective income")}
assert set(KIND_LABELS) == set(KINDS)
MAX_NOTE, MAX_REASON = 500, 500
MAX_WARN_PCT = 1000
MAX_POINT_VALUE_FEN = 100_000  # a thousand yuan for one point is a typo
HISTORY_DAYS = 92
RECORDS_LIMIT = 500


def _store_village(store_id):
    store = tenant_get(Store, store_id) if store_id else None
    return store.village_id if store is not None else None


def _village_path(village_id) -> dict:
    """A village's row or record lies in its village; the township's in none (township-wide roles only)."""
    return {"village": {village_id}} if village_id else {}


register_scope_path(FundCoverage, lambda c: _village_path(c.village_id))
register_scope_where(FundCoverage, {"village": lambda ids: FundCoverage.village_id.in_(list(ids))})
register_scope_path(FundRecord, lambda r: _village_path(_store_village(r.store_id)))
register_scope_where(FundRecord, {"village": lambda ids: FundRecord.store_id.in_(
    select(Store.id).where(Store.village_id.in_(list(ids))))})


def _crossed_for(actor: Actor) -> int:
    """The digest's count: scopes that fell below their threshold last night (township admins)."""
    if TOWNSHIP_ADMIN not in actor.roles:
        return 0
    return coverage.crossed_recently()


register_digest_source("funds.coverage_low", _l("Fund coverage fell below its threshold"), _crossed_for,
                       "funds.index")


def yuan_sign(fen: int | None) -> str:
    """Fen for people: ¥12.34 (-¥5.00 below zero); empty for unknown."""
    if fen is None:
        return ""
    return f"-¥{yuan(-fen)}" if fen < 0 else f"¥{yuan(fen)}"


# --- settings -------------------------------------------------------------------------------------

def settings_snapshot(s: FundSettings | None) -> dict:
    return {"point_value_fen": s.point_value_fen if s else None,
            "coverage_warn_pct": s.coverage_warn_pct if s else DEFAULT_WARN_PCT}


@action("funds.view")
def get_settings(actor: Actor) -> dict:
    """The settings with the point value in force (set, or derived today)."""
    s = coverage.settings()
    value, derived = coverage.point_value()
    return settings_snapshot(s) | {"point_value_in_force_fen": value, "point_value_derived": derived}


@action("funds.manage")
def update_settings(actor: Actor, data: dict) -> dict:
    """Set (or clear: derive it) the point value and the warning threshold; audited."""
    data = data or {}
    errors: dict = {}
    s = coverage.settings()
    before = settings_snapshot(s)
    values = dict(before)
    if "point_value" in data:
        raw = data.get("point_value")
        if raw in (None, "") or (isinstance(raw, str) and not raw.strip()):
            values["point_value_fen"] = None
        else:
            try:
                fen = amount_to_fen(raw, "point_value")
            except Invalid as e:
                errors.update(e.errors)
            else:
                if fen > MAX_POINT_VALUE_FEN:
                    errors["point_value"] = [_("At most %(n)s yuan for one point.", n=MAX_POINT_VALUE_FEN // 100)]
                values["point_value_fen"] = fen
    if "coverage_warn_pct" in data:
        pct = check(Whole(1, MAX_WARN_PCT), data.get("coverage_warn_pct"), "coverage_warn_pct", errors)
        if pct is None and "coverage_warn_pct" not in errors:
            errors["coverage_warn_pct"] = [_("Enter a whole percentage from 1 to %(n)d.", n=MAX_WARN_PCT)]
        values["coverage_warn_pct"] = pct
    Invalid.raise_if(errors)
    if s is None:
        s = FundSettings()
        db.session.add(s)
    s.point_value_fen, s.coverage_warn_pct = values["point_value_fen"], values["coverage_warn_pct"]
    s.updated_by_name = actor.name[:100]
    db.session.flush()
    record(actor, "funds.settings", s, before=before, after=settings_snapshot(s))
    return get_settings(actor)


# --- funding records ------------------------------------------------------------------------------

def record_snapshot(r: FundRecord) -> dict:
    return {"kind": r.kind, "amount_fen": r.amount_fen, "received_on": r.received_on.isoformat(),
            "store_id": str(r.store_id) if r.store_id else None, "note": r.note,
            "reverses_id": str(r.reverses_id) if r.reverses_id else None, "reason": r.reason}


def _check_record(data: dict) -> dict:
    """The input's own rules first (`Invalid`), then the township's data and the date (`InputConflict`)."""
    data = data or {}
    errors: dict = {}
    conflicts: dict = {}
    kind = data.get("kind")
    if kind not in KINDS:
        errors["kind"] = [_("Choose budget, donation or collective income.")]
    try:
        amount = amount_to_fen(data.get("amount"))
    except Invalid as e:
        errors.update(e.errors)
        amount = None
    received_on = check(Day(required=True), data.get("received_on"), "received_on", errors)
    if received_on is not None and received_on.year < FIRST_YEAR:
        errors["received_on"] = [_("Enter a date from %(year)d on.", year=FIRST_YEAR)]
    elif received_on is not None and received_on > clock.today():
        conflicts["received_on"] = [_("The money cannot be received after today.")]
    store_id = check(Uuid(_("Choose one of the township's stores.")), data.get("store_id"), "store_id", errors)
    if store_id is not None and tenant_get(Store, store_id) is None:
        conflicts["store_id"] = [_("Choose one of the township's stores.")]
    note = check(Text(MAX_NOTE), data.get("note"), "note", errors)
    Invalid.raise_if(errors)
    InputConflict.raise_if(conflicts)
    return {"kind": kind, "amount_fen": amount, "received_on": received_on, "store_id": store_id, "note": note or ""}


@action("funds.manage")
def add_record(actor: Actor, data: dict) -> FundRecord:
    """Record money received for the stores; audited."""
    r = FundRecord(**_check_record(data), created_by=actor.id if actor.kind == "user" else None,
                   created_by_name=actor.name[:100], created_at=clock.now())
    db.session.add(r)
    db.session.flush()
    record(actor, "funds.record", r, after=record_snapshot(r))
    return r


@action("funds.view")
def get_record(actor: Actor, fund_record_id) -> FundRecord:
    r = tenant_get_or_404(FundRecord, fund_record_id)
    authorize(actor, "funds.view", r)
    return r


def reversal_of(record_id) -> FundRecord | None:
    return db.session.execute(select(FundRecord).where(FundRecord.reverses_id == record_id)).scalar_one_or_none()


@action("funds.manage")
def reverse_record(actor: Actor, fund_record_id, data: dict) -> FundRecord:
    """Undo a record that was wrong: a record of the opposite amount pointing at it, with the
    reason; the original stays as it was. Once per record; a reversal is not reversed (record the
    money again instead)."""
    original = get_record(actor, fund_record_id)
    errors: dict = {}
    reason = check(Text(MAX_REASON, required=True, required_message=_("Say why the record is reversed.")),
                   (data or {}).get("reason"), "reason", errors)
    Invalid.raise_if(errors)
    if original.reverses_id is not None:
        raise InputConflict.field("fund_record_id", _("This is a reversal; record the money again instead."))
    if reversal_of(original.id) is not None:
        raise InputConflict.field("fund_record_id", _("This record is already reversed."))
    r = FundRecord(kind=original.kind, amount_fen=-original.amount_fen, received_on=original.received_on,
                   store_id=original.store_id, note=original.note, reverses_id=original.id, reason=reason,
                   created_by=actor.id if actor.kind == "user" else None, created_by_name=actor.name[:100],
                   created_at=clock.now())
    db.session.add(r)
    db.session.flush()
    record(actor, "funds.reverse", r, before=record_snapshot(original), after=record_snapshot(r))
    return r


@action("funds.view")
def list_records(actor: Actor, limit: int = RECORDS_LIMIT) -> list[FundRecord]:
    """The records the actor reaches, newest received first."""
    q = reach.filtered(select(FundRecord), actor, "funds.view", FundRecord)
    return list(db.session.execute(q.order_by(FundRecord.received_on.desc(), FundRecord.created_at.desc())
                                   .limit(limit)).scalars())


def reversed_ids(records: list[FundRecord]) -> set:
    ids = [r.id for r in records]
    if not ids:
        return set()
    return set(db.session.execute(select(FundRecord.reverses_id).where(FundRecord.reverses_id.in_(ids))).scalars())


@action("funds.view")
def store_choices(actor: Actor) -> list[tuple]:
    """(id, label) of the township's stores, for the record form."""
    villages = dict(village_choices())
    stores = db.session.execute(select(Store).order_by(Store.name)).scalars().all()
    return [(s.id, f"{s.name}（{villages.get(s.village_id, _('township'))}）") for s in stores]


# --- coverage -------------------------------------------------------------------------------------

def latest_day() -> date | None:
    return db.session.execute(select(func.max(FundCoverage.taken_on))).scalar()


@action("funds.view")
def coverage_now(actor: Actor) -> list[FundCoverage]:
    """The latest night's rows the actor reaches: the township's first, then villages by pinyin."""
    day = latest_day()
    if day is None:
        return []
    q = reach.filtered(select(FundCoverage).where(FundCoverage.taken_on == day), actor, "funds.view", FundCoverage)
    rows = db.session.execute(q).scalars().all()
    order = {v: n for n, (v, _name) in enumerate(village_choices())}
    return sorted(rows, key=lambda r: -1 if r.village_id is None else order.get(r.village_id, 10 ** 6))


@action("funds.view")
def coverage_history(actor: Actor, village_id=None, days: int = HISTORY_DAYS) -> list[FundCoverage]:
    """One scope's nights (the township's when `village_id` is None), newest first."""
    if village_id is not None:
        village_id = tenant_get_or_404(Village, village_id).id
    authorize(actor, "funds.view", FundCoverage(village_id=village_id))
    since = clock.today() - timedelta(days=days)
    q = select(FundCoverage).where(FundCoverage.taken_on >= since)
    q = q.where(FundCoverage.village_id.is_(None) if village_id is None else FundCoverage.village_id == village_id)
    return list(db.session.execute(q.order_by(FundCoverage.taken_on.desc())).scalars())


def scope_name(row: FundCoverage, names: dict | None = None) -> str:
    if row.village_id is None:
        return _("Whole township")
    names = names if names is not None else dict(village_choices())
    return names.get(row.village_id, "")


def coverage_summary(actor: Actor) -> dict:
    """For the township dashboard's panel (funds/_panel.html): the actor's main scope (the
    township for township-wide roles, else the first of their villages) and every scope below the
    threshold. {"visible": False} for whoever may not see funds."""
    if not may(actor, "funds.view"):
        return {"visible": False}
    rows = coverage_now(actor)
    url = url_for("funds.index")
    if not rows:
        return {"visible": True, "url": url, "taken_on": None, "scope": None, "coverage_pct": None,
                "months_left": None, "warning": False, "warn_pct": None, "below": []}
    names = dict(village_choices())
    main = rows[0]
    return {"visible": True, "url": url, "taken_on": main.taken_on, "scope": scope_name(main, names),
            "coverage_pct": main.coverage_pct, "months_left": main.months_left, "warning": main.below,
            "warn_pct": main.warn_pct, "liability_fen": main.liability_fen, "cover_fen": main.cover_fen,
            "below": [scope_name(r, names) for r in rows if r.below]}
