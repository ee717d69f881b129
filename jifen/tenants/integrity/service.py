"""Integrity signals for people: who sees which (the reach rule), the list and one signal, the
review, the dashboard summary, and each signal explained in plain words with links to its records.

A signal lies in its village (village staff, area cadres and panel members of that village reach
it); one with no village (a verifier working in several villages, a phone used across villages)
is reached by township-wide roles only. Reviewing does not change any other record: a signal
never blocks anything. A reviewer may not review a signal about themselves.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db, parse_uuid
from jifen.platform.errors import Conflict, Forbidden, Invalid
from jifen.platform.input import Text, check
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize, may
from jifen.platform.roles.registry import register_scope_path, register_scope_where
from jifen.platform.tenancy import register_url_object, tenant_get_or_404
from jifen.tenants.households.models import Household
from jifen.tenants.integrity import detectors as d
from jifen.tenants.integrity.models import (
    BURST,
    DEVICE,
    KINDS,
    OPEN,
    OUTLIER,
    PHOTO,
    REVIEWED,
    SEPARATION,
    STATUSES,
    IntegritySignal,
)
from jifen.tenants.villages.models import Village

register_url_object("signal_id", IntegritySignal)
register_scope_path(IntegritySignal, lambda s: {"village": {s.village_id}} if s.village_id else {})
register_scope_where(IntegritySignal, {"village": lambda ids: IntegritySignal.village_id.in_(list(ids))})

MAX_REASON = 1000
REASON = Text(MAX_REASON, required=True, required_message=_l("Say what you found when you looked into it."))
PAGE = 200

KIND_LABELS = {
    SEPARATION: _l("Approved own household or own record"),
    OUTLIER: _l("Verifier far from peers"),
    BURST: _l("Burst before a cut-off"),
    PHOTO: _l("Same photo, different households"),
    DEVICE: _l("One phone, many households"),
}
STATUS_LABELS = {OPEN: _l("Not yet reviewed"), REVIEWED: _l("Reviewed")}


def rules() -> dict:
    """Each detector's rule in words, with its numbers (the list page shows them)."""
    z_limit, factor = format(d.Z_LIMIT, "g"), format(d.BURST_FACTOR, "g")
    return {
        SEPARATION: _("A verifier or panel member approved an application of their own household, or one they "
                      "submitted themselves (a staff record's own verification is by design and not counted)."),
        OUTLIER: _("In a calendar year, a verifier with at least %(n)s decisions whose approval rate or average "
                   "approved points lies more than %(z)s standard deviations from the mean of the other verifiers "
                   "(at least %(peers)s of them, each with %(n)s decisions).",
                   n=d.MIN_DECISIONS, z=z_limit, peers=d.MIN_PEERS),
        BURST: _("A village's applications in the %(days)s days up to a dividend run or a year's end are more than "
                 "%(factor)s times its usual daily rate over the %(usual)s days before, and at least %(least)s.",
                 days=d.BURST_DAYS, factor=factor, usual=d.USUAL_DAYS, least=d.MIN_BURST),
        PHOTO: _("The same or a nearly identical photo (at most %(bits)s of 64 bits of its perceptual hash differ) "
                 "is attached to applications of different households.", bits=d.MAX_DISTANCE),
        DEVICE: _("One phone checked in %(least)s or more different households for activities held on the same day.",
                  least=d.MIN_DEVICE_HOUSEHOLDS),
    }


# --- reading ---------------------------------------------------------------------------------------

@dataclass
class Filters:
    status: str | None = None
    kind: str | None = None
    village_id: uuid.UUID | None = None


def filters_from(args) -> Filters:
    """Unknown values are ignored (a shared link from an older version still opens)."""
    status = args.get("status") or None
    kind = args.get("kind") or None
    return Filters(status if status in STATUSES else None, kind if kind in KINDS else None,
                   parse_uuid(args.get("village_id")))


@action("integrity.list")
def list_signals(actor: Actor, filters: Filters | None = None, limit: int = PAGE) -> list[IntegritySignal]:
    """Newest first, within the actor's reach."""
    filters = filters or Filters()
    query = select(IntegritySignal)
    if filters.status:
        query = query.where(IntegritySignal.status == filters.status)
    if filters.kind:
        query = query.where(IntegritySignal.kind == filters.kind)
    if filters.village_id:
        query = query.where(IntegritySignal.village_id == filters.village_id)
    query = reach.filtered(query, actor, "integrity.list", IntegritySignal)
    query = query.order_by(IntegritySignal.detected_on.desc(), IntegritySignal.id.desc()).limit(limit)
    return list(db.session.execute(query).scalars())


@action("integrity.view")
def get_signal(actor: Actor, signal_id) -> IntegritySignal:
    signal = tenant_get_or_404(IntegritySignal, signal_id)
    authorize(actor, "integrity.view", signal)
    return signal


@action("integrity.list")
def summary(actor: Actor) -> dict:
    """For the township dashboard (`integrity/_panel.html` renders it): open signals by kind (every
    kind, zeros too), their labels, and the 5 newest open."""
    base = reach.filtered(select(IntegritySignal.kind, func.count()).where(IntegritySignal.status == OPEN)
                          .group_by(IntegritySignal.kind), actor, "integrity.list", IntegritySignal)
    counts = dict.fromkeys(KINDS, 0) | {k: n for k, n in db.session.execute(base).all()}
    return {"open_by_kind": counts, "open": sum(counts.values()), "labels": {k: str(v) for k, v in KIND_LABELS.items()},
            "newest": list_signals(actor, Filters(status=OPEN), limit=5)}


# --- reviewing -------------------------------------------------------------------------------------

@action("integrity.review")
def review(actor: Actor, signal_id, data: dict) -> IntegritySignal:
    """Mark a signal reviewed, with the reviewer's reason (required); audited. A second review is
    409; reviewing a signal about oneself is 403."""
    signal = (db.session.execute(select(IntegritySignal).where(IntegritySignal.id == parse_uuid(signal_id))
                                 .with_for_update()).scalar_one_or_none())
    if signal is None:
        tenant_get_or_404(IntegritySignal, signal_id)
    authorize(actor, "integrity.review", signal)
    errors: dict = {}
    reason = check(REASON, (data or {}).get("reason"), "reason", errors)
    Invalid.raise_if(errors)
    if signal.status == REVIEWED:
        raise Conflict(_("This signal has already been reviewed."), {"reason": [_("Already reviewed.")]})
    if signal.subject_user_id is not None and signal.subject_user_id == actor.id:
        raise Forbidden(_("A signal about you is reviewed by someone else."))
    signal.status, signal.reviewed_by, signal.reviewed_by_name = REVIEWED, actor.id, actor.name
    signal.reviewed_at, signal.review_reason = clock.now(), reason
    record(actor, "integrity.review", signal, before={"status": OPEN},
           after={"status": REVIEWED, "kind": signal.kind, "reason": reason})
    db.session.flush()
    return signal


# --- words and links ---------------------------------------------------------------------------------

def _names(signals) -> tuple[dict, dict]:
    villages = {v.id: v.name for v in db.session.execute(select(Village)).scalars()}
    household_ids = {s.household_id for s in signals if s.household_id}
    for s in signals:
        household_ids |= {parse_uuid(r["id"]) for r in s.records or [] if r.get("type") == "household"}
        if s.kind == PHOTO and (s.numbers or {}).get("other_household"):
            household_ids.add(parse_uuid(s.numbers["other_household"]))
    households = {}
    if household_ids:
        households = {h.id: f"{h.head_name}（{h.door_plate}）" for h in db.session.execute(
            select(Household).where(Household.id.in_([i for i in household_ids if i]))).scalars()}
    return villages, households


def explain(signal: IntegritySignal, villages: dict | None = None, households: dict | None = None) -> str:
    """The signal in plain words, with its numbers, in the reader's language."""
    if villages is None or households is None:
        villages, households = _names([signal])
    n = signal.numbers or {}
    who = signal.subject_name or _("someone")
    household = households.get(signal.household_id, "")
    if signal.kind == SEPARATION:
        step = _("verified") if n.get("step") == "verify" else _("approved on the panel")
        if n.get("own_household") and n.get("own_record"):
            return _("%(who)s %(step)s an application of their own household %(household)s that they had submitted "
                     "themselves (%(points)s points).", who=who, step=step, household=household, points=n.get("points"))
        if n.get("own_household"):
            return _("%(who)s %(step)s an application of their own household %(household)s (%(points)s points).",
                     who=who, step=step, household=household, points=n.get("points"))
        return _("In %(year)s %(who)s %(step)s %(n)s applications that they had submitted themselves (%(points)s "
                 "points in all).", who=who, step=step, n=n.get("applications", 1), year=n.get("year", ""),
                 points=n.get("points"))
    if signal.kind == OUTLIER:
        if n.get("metric") == "rate":
            return _("In %(year)s %(who)s approved %(value)s%% of the %(decisions)s applications they decided; the "
                     "other %(peers)s verifiers approved %(mean)s%% on average (standard deviation %(sd)s): "
                     "%(z)s standard deviations away.", year=n.get("year"), who=who,
                     value=round(100 * n.get("value", 0)), decisions=n.get("decisions"), peers=n.get("peers"),
                     mean=round(100 * n.get("peer_mean", 0)), sd=round(100 * n.get("peer_sd", 0)), z=n.get("z"))
        return _("In %(year)s %(who)s approved on average %(value)s points an application (%(approved)s approved); "
                 "the other %(peers)s verifiers %(mean)s points on average (standard deviation %(sd)s): %(z)s "
                 "standard deviations away.", year=n.get("year"), who=who, value=round(n.get("value", 0), 1),
                 approved=n.get("approved"), peers=n.get("peers"), mean=round(n.get("peer_mean", 0), 1),
                 sd=round(n.get("peer_sd", 0), 1), z=n.get("z"))
    if signal.kind == BURST:
        what = _("a dividend run") if n.get("what") == "dividend" else _("the year's end")
        usual = n.get("usual_per_day") or 0
        ratio = n.get("ratio")
        times = _("%(ratio)s times the usual rate", ratio=ratio) if ratio else _("with almost none before")
        return _("%(village)s: %(burst)s applications in the %(days)s days up to %(cutoff)s (%(what)s), against "
                 "%(usual)s a day over the %(usual_days)s days before: %(times)s.",
                 village=villages.get(signal.village_id, ""), burst=n.get("burst"), days=n.get("days"),
                 cutoff=n.get("cutoff"), what=what, usual=usual, usual_days=n.get("usual_days"), times=times)
    if signal.kind == PHOTO:
        other = households.get(parse_uuid(n.get("other_household")), "")
        if n.get("distance") == 0:
            return _("An application of %(household)s carries the same photo as an application of %(other)s.",
                     household=household, other=other)
        return _("An application of %(household)s carries a nearly identical photo (%(bits)s of 64 bits differ) as "
                 "an application of %(other)s.", household=household, other=other, bits=n.get("distance"))
    if signal.kind == DEVICE:
        return _("One phone checked in %(households)s different households (%(checkins)s check-ins at %(activities)s "
                 "activities held on %(day)s), signed in as %(who)s.", households=n.get("households"),
                 checkins=n.get("checkins"), activities=n.get("activities"), day=n.get("day"), who=who)
    return signal.kind


def explained(signals: list[IntegritySignal]) -> list[tuple[IntegritySignal, str]]:
    villages, households = _names(signals)
    return [(s, explain(s, villages, households)) for s in signals]


def village_name(signal: IntegritySignal) -> str:
    villages, _h = _names([])
    return villages.get(signal.village_id, "") if signal.village_id else _("Whole township")


def links(actor: Actor, signal: IntegritySignal) -> list[tuple[str, str]]:
    """(label, url) of each record the signal names that the reader may open (pages check again)."""
    _v, households = _names([signal])
    out = []
    for r in signal.records or []:
        kind, rid = r.get("type"), parse_uuid(r.get("id"))
        if rid is None:
            continue
        if kind == "application":
            out.append((_("Application %(id)s", id=str(rid)[-8:]), url_for("points_review.detail", application_id=rid)))
        elif kind == "household":
            out.append((_("Household %(name)s", name=households.get(rid, str(rid)[-8:])),
                        url_for("households.detail", household_id=rid)))
        elif kind == "activity":
            out.append((_("Activity report %(id)s", id=str(rid)[-8:]), url_for("activities.report", activity_id=rid)))
        elif kind == "dividend_pool":
            out.append((_("Dividend pool"), url_for("dividends.detail", dividend_pool_id=rid)))
        elif kind == "file":
            out.append((_("Photo %(id)s", id=str(rid)[-8:]), url_for("files.download", file_id=rid)))
    return out


def village_choices(actor: Actor) -> list[tuple]:
    """Villages the actor's signals can be filtered by, in pinyin order."""
    query = reach.filtered(select(Village), actor, "integrity.list", Village)
    return [(v.id, v.name) for v in sort_by_pinyin(db.session.execute(query).scalars(), key=lambda v: v.name)]


def may_review(actor: Actor, signal: IntegritySignal) -> bool:
    return signal.status == OPEN and may(actor, "integrity.review", signal) and signal.subject_user_id != actor.id
