"""The application state machine, written once.

    submitted ──verify──▶ verified ──certify (quorum)──▶ certified ──publish──▶ on_notice ──post──▶ posted
        │  (verification-only items: verify goes straight to certified)          │   ▲
        ├─withdraw─▶ withdrawn                                          object │   │ dismiss
        └─reject (verification or certification)─▶ rejected ◀──uphold── objected ◀┘

Staff records and staff-marked attendance start at `verified` (the work team saw it happen), or at
`certified` for verification-only items;
self-applications, proxy entries and self check-ins start at `submitted`. `correct` keeps a posted
application posted and adds a reversing ledger entry.

`move()` is the only code that changes `Application.state`: it checks the state is one the step
may start from, that the actor's role and scope allow the step (policy names below), writes the
history row and the audit entry, and notifies the household. Service functions call it.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from jifen.platform import clock
from jifen.platform.audit.service import record, record_many
from jifen.platform.db import db, new_id
from jifen.platform.errors import Conflict
from jifen.platform.roles.authz import Actor, authorize
from jifen.platform.tenancy import insert_new
from jifen.tenants.notifications.models import Notification
from jifen.tenants.notifications.service import notify
from jifen.tenants.points.models import Application, ApplicationStep

SUBMITTED, VERIFIED, CERTIFIED, ON_NOTICE, OBJECTED, POSTED, REJECTED, WITHDRAWN = (
    "submitted", "verified", "certified", "on_notice", "objected", "posted", "rejected", "withdrawn")
STATES = (SUBMITTED, VERIFIED, CERTIFIED, ON_NOTICE, OBJECTED, POSTED, REJECTED, WITHDRAWN)
PENDING = (SUBMITTED, VERIFIED, CERTIFIED, ON_NOTICE, OBJECTED)  # still on their way
STATE_LABELS = {
    SUBMITTED: _l("Awaiting verification"), VERIFIED: _l("Awaiting certification"),
    CERTIFIED: _l("Awaiting public notice"), ON_NOTICE: _l("On public notice"), OBJECTED: _l("Objection raised"),
    POSTED: _l("Posted"), REJECTED: _l("Not accepted"), WITHDRAWN: _l("Withdrawn"),
}


@dataclass(frozen=True)
class Step:
    sources: frozenset  # states the step may start from
    targets: frozenset  # states it may lead to
    policy: str | None  # the action whose role and scope the actor needs; None: system only
    label: object
    notify: str | None = None  # notification kind for the household


STEPS: dict[str, Step] = {
    "submit": Step(frozenset({None}), frozenset({SUBMITTED, VERIFIED, CERTIFIED}), None, _l("Submitted")),
    "confirm": Step(frozenset(PENDING), frozenset(PENDING), "application.confirm", _l("Confirmed by the household")),
    "withdraw": Step(frozenset({SUBMITTED}), frozenset({WITHDRAWN}), "application.withdraw", _l("Withdrawn")),
    "verify": Step(frozenset({SUBMITTED}), frozenset({VERIFIED, CERTIFIED}), "application.verify", _l("Verified"),
                   "verified"),
    "reject": Step(frozenset({SUBMITTED}), frozenset({REJECTED}), "application.verify", _l("Rejected at verification"),
                   "rejected"),
    "vote": Step(frozenset({VERIFIED}), frozenset({VERIFIED}), "application.certify", _l("Panel member approved")),
    "oppose": Step(frozenset({VERIFIED}), frozenset({VERIFIED}), "application.certify",
                   _l("Panel member voted to reject")),
    "certify": Step(frozenset({VERIFIED}), frozenset({CERTIFIED}), "application.certify", _l("Certified"),
                    "certified"),
    "decline": Step(frozenset({VERIFIED}), frozenset({REJECTED}), "application.certify",
                    _l("Rejected at certification"), "rejected"),
    "publish": Step(frozenset({CERTIFIED}), frozenset({ON_NOTICE}), "notice.publish", _l("Put on public notice"),
                    "on_notice"),
    "object": Step(frozenset({ON_NOTICE, OBJECTED}), frozenset({OBJECTED}), "notice.object", _l("Objection raised"),
                   "objected"),
    "uphold": Step(frozenset({OBJECTED}), frozenset({REJECTED}), "objection.decide", _l("Objection upheld"),
                   "objection_upheld"),
    "dismiss": Step(frozenset({OBJECTED}), frozenset({ON_NOTICE, OBJECTED}), "objection.decide",
                    _l("Objection dismissed"), "objection_dismissed"),
    "post": Step(frozenset({ON_NOTICE}), frozenset({POSTED}), None, _l("Posted to the ledger"), "posted"),
    "correct": Step(frozenset({POSTED}), frozenset({POSTED}), "ledger.correct", _l("Corrected"), "corrected"),
}


def item_title(app: Application) -> str:
    from jifen.platform.tenancy import tenant_get
    from jifen.tenants.rulebook.models import RuleItem
    item = tenant_get(RuleItem, app.item_id)
    return item.title_zh if item else app.item_code


def require(app: Application, step: str) -> None:
    """Raise Conflict (naming `state`) unless `step` may start from the application's state."""
    current = app.state if step != "submit" else None
    if current not in STEPS[step].sources:
        label = str(STATE_LABELS.get(app.state, app.state))
        raise Conflict(_("This application is now: %(state)s. That step is not possible any more.", state=label),
                       {"state": [label]})


class Log:
    """The history rows, audit entries and notifications of many steps, written together in a few
    inserts (the posting job); without a log, `move` writes each at once."""

    def __init__(self):
        self.steps: list[ApplicationStep] = []
        self.audits: list[tuple] = []
        self.notes: list = []

    def write(self) -> None:
        insert_new(ApplicationStep, self.steps)
        record_many(self.audits)
        insert_new(Notification, self.notes)
        self.steps, self.audits, self.notes = [], [], []


def move(actor: Actor, app: Application, step: str, to: str, *, reason: str = "", points: int | None = None,
         notify_params: dict | None = None, authorized: bool = False, log: Log | None = None) -> None:
    """Take `app` through `step` into state `to`. Raises Conflict naming `state` when the step may
    not start from the application's state, Forbidden/NotFound when the actor may not take it.
    `authorized`: the caller already checked the policy against the application (batch paths)."""
    spec = STEPS[step]
    require(app, step)
    if to not in spec.targets:
        raise ValueError(f"step {step} cannot lead to {to}")
    if not authorized:
        if spec.policy is None:
            if actor.kind != "system" and step != "submit":
                raise Conflict(_("Only the posting job does this."), {"state": [app.state]})
        else:
            authorize(actor, spec.policy, app)
    before = app.state if step != "submit" else None
    app.state = to
    app.updated_at = clock.now()
    step_row = {"id": new_id(), "application_id": app.id, "step": step, "from_state": before, "to_state": to,
                "points": points, "reason": reason, "actor_id": actor.id, "actor_name": actor.name,
                "created_at": clock.now()}
    audit = (actor, f"application.{step}", app, {
        "before": {"state": before} if before else None,
        "after": {"state": to, "points": points if points is not None else app.points, "reason": reason or None}})
    note = None
    if spec.notify:
        params = {"points": app.points, "reason": reason} | (notify_params or {})
        params.setdefault("item", item_title(app))
        note = (app.household_id, spec.notify, f"app:{app.id}:{step_row['id']}", f"applications/{app.id}", params)
    if log is None:
        db.session.add(ApplicationStep(**step_row))
        record(audit[0], audit[1], audit[2], **audit[3])
        if note:
            notify(note[0], note[1], note[2], link=note[3], **note[4])
    else:
        log.steps.append(step_row)
        log.audits.append(audit)
        if note:  # the key names this new step: it cannot exist yet, so no look-up first
            log.notes.append({"id": new_id(), "household_id": note[0], "kind": note[1], "dedupe_key": note[2],
                              "link": note[3], "params": note[4], "delivery": Notification.PENDING,
                              "created_at": clock.now()})

