"""Reading the ledger (balances, the passbook) and correcting it (reversing entries only)."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db, new_id
from jifen.platform.errors import InputConflict, Invalid
from jifen.platform.input import Text, Whole, check
from jifen.platform.roles.authz import Actor, action, authorize
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.households.models import Household
from jifen.tenants.notifications.service import notify
from jifen.tenants.points import ledger
from jifen.tenants.points.applications import MAX_REASON
from jifen.tenants.points.models import (
    APPLICATION_SOURCE,
    HOUSEHOLD,
    PERIOD_CLOSE,
    Application,
    HouseholdBalance,
    LedgerPosting,
    LedgerTransaction,
)
from jifen.tenants.points.workflow import move

register_url_object("transaction_id", LedgerTransaction)
CORRECTION_REASON = Text(MAX_REASON, required=True, required_message=_l("Say why the entry is corrected."))
MAX_CORRECTION_POINTS = 100_000
CORRECTION_POINTS = Whole(-MAX_CORRECTION_POINTS, MAX_CORRECTION_POINTS)


def current_period() -> int:
    return ledger.period_of(clock.today())


def _household(actor: Actor, household_id) -> Household:
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, "ledger.view", household)
    return household


@action("ledger.view")
def balances(actor: Actor, household_id, period: int | None = None) -> tuple[int, int]:
    """(earned, available) of the household in the period (this year by default)."""
    household = _household(actor, household_id)
    bal = ledger.balance(household.id, period or current_period())
    return (bal.earned, bal.available) if bal else (0, 0)


@action("ledger.view")
def passbook(actor: Actor, household_id, period: int | None = None) -> list[LedgerTransaction]:
    """积分存折: every entry of the household in the period, oldest first (as a passbook prints)."""
    household = _household(actor, household_id)
    query = select(LedgerTransaction).where(LedgerTransaction.household_id == household.id)
    if period is not None:  # with the close entries that carried points into the period
        carried_in = select(LedgerPosting.transaction_id).where(
            LedgerPosting.household_id == household.id, LedgerPosting.period == period,
            LedgerPosting.account == HOUSEHOLD)
        query = query.where((LedgerTransaction.period == period) | (
            (LedgerTransaction.source_kind == PERIOD_CLOSE) & (LedgerTransaction.period == period - 1)
            & LedgerTransaction.id.in_(carried_in)))
    return list(db.session.execute(query.order_by(LedgerTransaction.created_at, LedgerTransaction.id)).scalars())


@action("ledger.view")
def periods(actor: Actor, household_id) -> list[int]:
    household = _household(actor, household_id)
    found = set(db.session.execute(select(HouseholdBalance.period).where(
        HouseholdBalance.household_id == household.id)).scalars())  # a year it only carried points into too
    found |= set(db.session.execute(select(LedgerTransaction.period).where(
        LedgerTransaction.household_id == household.id).distinct()).scalars())
    return sorted(found | {current_period()}, reverse=True)


@action("ledger.correct")
def correct_entry(actor: Actor, transaction_id, data: dict) -> LedgerTransaction:
    """An admin corrects a wrong posting: a reversing entry bringing it to `points` (0 undoes it),
    with a reason. The original stays as it was."""
    original = tenant_get_or_404(LedgerTransaction, transaction_id)
    errors: dict = {}
    reason = check(CORRECTION_REASON, (data or {}).get("reason"), "reason", errors)
    new_points = check(CORRECTION_POINTS, (data or {}).get("points"), "points", errors)
    if new_points is None and "points" not in errors:
        errors["points"] = [_("Enter the right points as a whole number (0 undoes the entry).")]
    Invalid.raise_if(errors)
    if original.source_kind == PERIOD_CLOSE:  # the entry decides (and ledger.correct: its other kinds)
        raise InputConflict.field("transaction", _("A year-end close entry cannot be corrected."))
    tx = ledger.correct(original, new_points=new_points, reason=reason, request_id=new_id(), created_by=actor.id,
                        created_by_name=actor.name)
    db.session.flush()
    record(actor, "ledger.correct", tx, before={"transaction": str(original.id), "points": ledger.effective_points(
        original) - tx.points}, after={"points": new_points, "reason": reason})
    if original.source_kind == APPLICATION_SOURCE:
        app = tenant_get(Application, original.source_id)
        if app is not None:
            move(actor, app, "correct", app.state, reason=reason, points=new_points,
                 notify_params={"points": new_points}, authorized=True)
    else:
        notify(original.household_id, "corrected", f"correct:{tx.id}", item=original.memo, points=new_points,
               reason=reason)
    db.session.flush()
    return tx


@action("ledger.check")
def check_balances(actor: Actor, fix: bool = False) -> dict:
    """Recompute cached balances from the postings and report (and with `fix`, repair) any
    difference; the repair is audited."""
    report = ledger.recompute(fix=fix)
    if fix and report["differences"]:
        record(actor, "ledger.repair_balances", object_type="household_balances", object_id="*",
               after={"differences": len(report["differences"])})
    db.session.flush()
    return report
