"""Dividend pools: set up by the township (a township pool, no village) or a village admin (their
village's pool); editable until a run of the pool is approved (amounts are frozen from then on).

Input fields (pages and API): title, village_id (empty: township), amount (yuan, kept as integer
fen), source (store.models.FUNDING_SOURCES), period (year), min_points, veto_codes (deduction item
codes), base_percent (the part shared equally; the rest goes by earned points), note.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict, InputConflict, Invalid
from jifen.platform.input import FIRST_YEAR, Period, Text, Uuid, Whole, check
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize, may
from jifen.platform.roles.registry import register_scope_path, register_scope_where
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.dividends.models import SETTLED, DividendChunk, DividendPayout, DividendPool, DividendRun
from jifen.tenants.rulebook.models import RuleItem
from jifen.tenants.store.models import FUNDING_SOURCES
from jifen.tenants.villages.models import Village

register_url_object("dividend_pool_id", DividendPool)
register_url_object("dividend_run_id", DividendRun)


def _village_path(village_id) -> dict:
    """A village pool (and its runs) lies in its village; a township pool in no village, so only
    township-wide roles reach it."""
    return {"village": {village_id}} if village_id else {}


register_scope_path(DividendPool, lambda p: _village_path(p.village_id))
register_scope_path(DividendRun, lambda r: _village_path(r.village_id))
register_scope_where(DividendPool, {"village": lambda ids: DividendPool.village_id.in_(list(ids))})

MAX_AMOUNT_FEN = 10_000_000_000  # one hundred million yuan
MAX_MIN_POINTS = 1_000_000
MAX_BASE_PERCENT = 100
MAX_TITLE, MAX_NOTE = 200, 2000
MAX_VETO_CODES = 20
SOURCE_LABELS = {"collective_income": _l("Village collective income"), "government_subsidy": _l("Government subsidy"),
                 "donation": _l("Donation"), "sponsorship": _l("Sponsorship"), "other": _l("Other")}
assert set(SOURCE_LABELS) == set(FUNDING_SOURCES)
FIELDS = ("title", "village_id", "amount", "source", "period", "min_points", "veto_codes", "base_percent", "note")
AMOUNT_RE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
_DIGITS = len(str(MAX_AMOUNT_FEN // 100)) - 1
assert MAX_AMOUNT_FEN // 100 == 10 ** _DIGITS  # the pattern below: up to the limit, a power of ten yuan
# The API document's amount: yuan above zero, at most MAX_AMOUNT_FEN, at most two decimals, written
# plainly (no leading zeros, separators or ¥, which the pages' `amount_to_fen` also takes).
AMOUNT_PATTERN = (f"^(?:[1-9][0-9]{{0,{_DIGITS - 1}}}(?:\\.[0-9]{{1,2}})?|0\\.(?:[1-9][0-9]?|0[1-9])"
                  f"|{MAX_AMOUNT_FEN // 100}(?:\\.00?)?)$")


# --- money -------------------------------------------------------------------------------------

def amount_to_fen(value, field: str = "amount") -> int:
    """An amount in yuan ("20000", "20,000.50", "¥1.5") as whole fen, above zero and at most
    MAX_AMOUNT_FEN; anything else names `field`. Exact: decimal arithmetic, never float."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int | Decimal):
        value = str(value)
    elif isinstance(value, float):
        value = repr(value)
    text = "" if value is None else str(value).strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
    if not text:
        raise Invalid.field(field, _("Enter the amount in yuan, e.g. 20000.00."))
    try:
        fen = Decimal(text) * 100 if AMOUNT_RE.match(text) else None
    except InvalidOperation:
        fen = None
    if fen is None or fen != fen.to_integral_value():
        raise Invalid.field(field, _("Enter the amount in yuan with at most two decimals, e.g. 20000.00."))
    if fen <= 0:
        raise Invalid.field(field, _("The amount must be above zero."))
    if fen > MAX_AMOUNT_FEN:
        raise Invalid.field(field, _("At most %(n)s yuan.", n=format(MAX_AMOUNT_FEN // 100, ",")))
    return int(fen)


def yuan(fen: int | None) -> str:
    """Fen as yuan for people: 2000050 -> '20,000.50'."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def yuan_plain(fen: int) -> str:
    """Fen as an amount field shows it: 2000050 -> '20000.50'."""
    return f"{fen // 100}.{fen % 100:02d}"


# --- input -------------------------------------------------------------------------------------

def deduction_codes() -> list[tuple[str, str]]:
    """(code, title) of every deduction item in the township's rulebooks, newest title per code."""
    rows = db.session.execute(select(RuleItem.code, RuleItem.title_zh).where(RuleItem.direction == "deduction")
                              .order_by(RuleItem.code, RuleItem.id)).all()
    return sorted({code: title for code, title in rows}.items())


def _veto_codes(value, errors: dict, conflicts: dict) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = re.split(r"[\s,，、;；]+", value)
    if not isinstance(value, list | tuple):
        errors["veto_codes"] = [_("List the item codes, e.g. D1, D2.")]
        return []
    codes = sorted({str(c).strip() for c in value if str(c).strip()})
    if len(codes) > MAX_VETO_CODES:
        errors["veto_codes"] = [_("At most %(n)d item codes.", n=MAX_VETO_CODES)]
        return []
    known = {code for code, _t in deduction_codes()}
    unknown = [c for c in codes if c not in known]
    if unknown:
        conflicts["veto_codes"] = [_("Not a deduction item of the rulebook: %(codes)s.", codes=", ".join(unknown))]
    return codes


def _check(actor: Actor, data: dict, pool: DividendPool | None) -> dict:
    """The pool's fields, clean: the input's own rules first (`Invalid`; the API document states
    them), then those of the township's data and the date (`InputConflict`): the village, the
    actor's reach, the rulebook's deduction codes, a year not yet begun."""
    data = data or {}
    errors: dict = {}
    conflicts: dict = {}
    values: dict = {}

    def given(name):
        return pool is None or name in data

    if given("village_id"):
        choose = _("Choose a village, or none for the whole township.")
        village_id = check(Uuid(choose), data.get("village_id"), "village_id", errors)
        village = tenant_get(Village, village_id) if village_id else None
        if "village_id" in errors:
            pass
        elif village_id is None:
            values["village_id"] = None
            if not may(actor, "dividend.manage", DividendPool(village_id=None)):
                conflicts["village_id"] = [_("Only the township admin sets up a township-wide pool; choose your "
                                             "village.")]
        elif village is None:
            conflicts["village_id"] = [choose]
        elif not may(actor, "dividend.manage", DividendPool(village_id=village.id)):
            conflicts["village_id"] = [_("This village is outside your area.")]
        else:
            values["village_id"] = village.id
    if given("title"):
        values["title"] = check(Text(MAX_TITLE, required=True), data.get("title"), "title", errors)
    if given("amount"):
        try:
            values["amount_fen"] = amount_to_fen(data.get("amount"))
        except Invalid as e:
            errors.update(e.errors)
    if given("source"):
        source = data.get("source")
        if source not in FUNDING_SOURCES:
            errors["source"] = [_("Say where the money comes from.")]
        values["source"] = source
    if given("period"):
        this_year = clock.today().year
        message = _("Enter a year from %(first)d to %(last)d.", first=FIRST_YEAR, last=this_year)
        period = values["period"] = check(Period(), data.get("period"), "period", {})
        if period is None:  # missing, or not a year at all
            errors["period"] = [message]
        elif period > this_year:  # a year not yet begun: the date's rule
            conflicts["period"] = [message]
    if given("min_points"):
        values["min_points"] = check(Whole(0, MAX_MIN_POINTS), data.get("min_points"), "min_points", errors) or 0
    if given("veto_codes"):
        values["veto_codes"] = _veto_codes(data.get("veto_codes"), errors, conflicts)
    if given("base_percent"):
        percent = values["base_percent"] = check(Whole(0, MAX_BASE_PERCENT), data.get("base_percent"),
                                                 "base_percent", errors)
        if percent is None and "base_percent" not in errors:
            errors["base_percent"] = [_("Enter a whole percentage from 0 to 100.")]
    if given("note"):
        values["note"] = check(Text(MAX_NOTE), data.get("note"), "note", errors)
    Invalid.raise_if(errors)
    InputConflict.raise_if(conflicts)
    return values


def snapshot(pool: DividendPool) -> dict:
    return {"title": pool.title, "village_id": str(pool.village_id) if pool.village_id else None,
            "amount_fen": pool.amount_fen, "source": pool.source, "period": pool.period,
            "min_points": pool.min_points, "veto_codes": list(pool.veto_codes or []),
            "base_percent": pool.base_percent}


# --- pools -------------------------------------------------------------------------------------

def pool_in_scope(actor: Actor, action_name: str, pool_id, lock: bool = False) -> DividendPool:
    pool = tenant_get_or_404(DividendPool, pool_id)
    if lock:
        pool = db.session.execute(select(DividendPool).where(DividendPool.id == pool.id).with_for_update()
                                  .execution_options(populate_existing=True)).scalar_one()
    authorize(actor, action_name, pool)
    return pool


def settled_run(pool_id) -> DividendRun | None:
    return db.session.execute(select(DividendRun).where(DividendRun.pool_id == pool_id,
                                                        DividendRun.state.in_(SETTLED))).scalar_one_or_none()


def check_editable(pool: DividendPool) -> None:
    if settled_run(pool.id) is not None:
        raise Conflict(_("A settlement of this pool is approved: its amounts are frozen and the pool can no "
                         "longer change."), {"state": [_("approved")]})


@action("dividend.manage")
def create_pool(actor: Actor, data: dict) -> DividendPool:
    values = _check(actor, data, None)
    pool = DividendPool(**values, created_by=actor.id, created_by_name=actor.name)
    db.session.add(pool)
    db.session.flush()
    authorize(actor, "dividend.manage", pool)
    record(actor, "dividend_pool.create", pool, after=snapshot(pool))
    db.session.flush()
    return pool


@action("dividend.manage")
def update_pool(actor: Actor, pool_id, data: dict) -> DividendPool:
    """Change a pool until a run of it is approved. A simulation made before the change must be
    made again before it can be approved."""
    pool = pool_in_scope(actor, "dividend.manage", pool_id, lock=True)
    check_editable(pool)
    values = _check(actor, {k: v for k, v in (data or {}).items() if k in FIELDS}, pool)
    before = snapshot(pool)
    for name, value in values.items():
        setattr(pool, name, value)
    db.session.flush()
    record(actor, "dividend_pool.update", pool, before=before, after=snapshot(pool))
    db.session.flush()
    return pool


@action("dividend.manage")
def delete_pool(actor: Actor, pool_id) -> None:
    """Remove a pool set up by mistake, with its simulations; not once a run is approved."""
    pool = pool_in_scope(actor, "dividend.manage", pool_id, lock=True)
    check_editable(pool)
    runs = list(db.session.execute(select(DividendRun.id).where(DividendRun.pool_id == pool.id)
                                   .with_for_update()).scalars())
    if runs:
        db.session.execute(delete(DividendPayout).where(DividendPayout.run_id.in_(runs)))
        db.session.execute(delete(DividendChunk).where(DividendChunk.run_id.in_(runs)))
        db.session.execute(delete(DividendRun).where(DividendRun.id.in_(runs)))
    record(actor, "dividend_pool.delete", pool, before=snapshot(pool))
    db.session.delete(pool)
    db.session.flush()


@action("dividend.view")
def get_pool(actor: Actor, pool_id) -> DividendPool:
    return pool_in_scope(actor, "dividend.view", pool_id)


@action("dividend.view")
def list_pools(actor: Actor, period: int | None = None) -> list[DividendPool]:
    """The pools the actor may see (township pools: township-wide roles only), newest period first."""
    query = reach.filtered(select(DividendPool), actor, "dividend.view", DividendPool)
    query = query.order_by(DividendPool.period.desc(), DividendPool.created_at.desc())
    if period:
        query = query.where(DividendPool.period == period)
    return list(db.session.execute(query).scalars())


@dataclass
class PoolChoices:
    villages: list  # (id, name) the actor may set up pools for
    township: bool  # may set up a township pool
    sources: dict
    codes: list  # (code, title) of deduction items


def choices(actor: Actor) -> PoolChoices:
    from jifen.tenants.villages.scopes import village_choices

    return PoolChoices([(i, n) for i, n in village_choices() if may(actor, "dividend.manage", DividendPool(village_id=i))],
                       may(actor, "dividend.manage", DividendPool(village_id=None)), SOURCE_LABELS, deduction_codes())
