"""Field checks shared by the rulebook's forms and API, and the assembly resolution rule.

`Fields` collects one message per bad field so a form or API body gets every problem named at
once, and nothing is written until all of them pass. Two kinds (docs/decisions.md, "422 or 409"):
`fail` for a rule about one field alone, which the API document declares (the platform's `Text`,
`Whole`, `Day`, `Uuid` fields check it, with the same limits as the document's twins), and
`conflict` for a rule that depends on the township's data, the date or another field's value (a
name taken, an id naming nothing, a day in the future, the lowest points above the highest).
"""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.errors import InputConflict, Invalid, refuse
from jifen.platform.files.models import StoredFile
from jifen.platform.files.service import store_document
from jifen.platform.input import Day, Text, Uuid, Whole, check
from jifen.platform.roles.authz import Actor
from jifen.tenants.rulebook.models import ADOPTED, RETIRED

MAX_NUMBER = 100_000  # points, attendance and votes: far above any real value, far below the column limit
MIN_ATTENDANCE = 1
STATUS_LABELS = {"draft": _l("draft"), "adopted": _l("adopted"), "retired": _l("retired")}


class Fields:
    def __init__(self, data: dict | None):
        self.data = data or {}
        self.errors: dict[str, list[str]] = {}  # rules about one field alone: declared in the API document
        self.conflicts: dict[str, list[str]] = {}  # the township's data, the date, another field

    def fail(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def conflict(self, field: str, message: str) -> None:
        self.conflicts.setdefault(field, []).append(message)

    def bad(self, field: str) -> bool:
        return field in self.errors or field in self.conflicts

    def check(self) -> None:
        refuse(self.errors, self.conflicts)

    def text(self, field: str, max_len: int, required: bool = False) -> str:
        value = check(Text(max_len, required=required), self.data.get(field), field, self.errors)
        return "" if value is None else value

    def number(self, field: str, required: bool = True, minimum: int = 0) -> int | None:
        value = check(Whole(minimum, MAX_NUMBER), self.data.get(field), field, self.errors)
        if value is None and required and field not in self.errors:
            self.fail(field, _("Enter a whole number."))
        return value

    def day(self, field: str, required: bool = True) -> date | None:
        return check(Day(required=required), self.data.get(field), field, self.errors)

    def uuid(self, field: str, message: str):
        return check(Uuid(message), self.data.get(field), field, self.errors)

    def flag(self, field: str, default: bool = False) -> bool:
        value = self.data.get(field, default)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "on", "true", "yes")
        return bool(value)

    def choice(self, field: str, options: tuple, default: str | None = None) -> str | None:
        value = self.data.get(field) or default
        if value not in options:
            self.fail(field, _("Choose one of: %(options)s.", options=", ".join(options)))
            return None
        return value


def check_resolution(data: dict, *, in_force_from: date | None = None, previous: date | None = None) -> dict:
    """The villagers' representative assembly resolution that adopts a rulebook.

    The rule (村民委员会组织法, art. 26): a decision of the representative assembly needs the votes
    of more than half of those present, so `votes_for` must exceed half the attendance; abstaining
    or not voting counts against. The votes cannot add up to more than the attendance. The assembly
    lies in the past and the rulebook takes force on or after it (`adopted_on`, inclusive), after
    the day the rulebook it replaces took force (`previous`) and, for a village, not before the
    township version it adopts is in force (`in_force_from`). Each number and day alone is declared
    in the API document (422); how they relate to each other, to today and to the rulebooks before
    is a conflict (409).
    """
    f = Fields(data)
    assembly = f.day("assembly_date")
    attendance = f.number("attendance", minimum=MIN_ATTENDANCE)
    votes_for = f.number("votes_for")
    votes_against = f.number("votes_against", required=False) or 0
    votes_abstain = f.number("votes_abstain", required=False) or 0
    adopted_on = f.day("adopted_on")
    if assembly and assembly > clock.today():
        f.conflict("assembly_date", _("The assembly cannot be in the future."))
    if attendance and votes_for is not None and not f.bad("votes_against") and not f.bad("votes_abstain"):
        cast = votes_for + votes_against + votes_abstain
        if cast > attendance:
            f.conflict("attendance", _("The votes (%(cast)d) add up to more than the attendance.", cast=cast))
        elif votes_for * 2 <= attendance:
            half = "%g" % (attendance / 2)
            f.conflict("votes_for", _("Adoption needs more than half of those present: more than %(half)s of %(n)d.",
                                      half=half, n=attendance))
    if adopted_on and assembly and adopted_on < assembly:
        f.conflict("adopted_on", _("The rulebook cannot take force before the assembly adopted it."))
    if adopted_on and previous and adopted_on <= previous:
        f.conflict("adopted_on", _("Must be after %(day)s, when the rulebook it replaces took force.", day=previous))
    if adopted_on and in_force_from and adopted_on < in_force_from:
        f.conflict("adopted_on", _("The township version is in force only from %(day)s.", day=in_force_from))
    f.check()
    return {"assembly_date": assembly, "attendance": attendance, "votes_for": votes_for,
            "votes_against": votes_against, "votes_abstain": votes_abstain, "adopted_on": adopted_on}


def resolution_with_scan(actor: Actor, data: dict, scan, **rules) -> tuple[dict, StoredFile | None]:
    """The checked resolution and the stored scan (a PDF or a photo), with the errors of both
    named together (a bad scan is a 422, like a bad field). The scan row is written in the caller's
    transaction, so a refusal removes it."""
    errors, conflicts, resolution, stored = {}, {}, {}, None
    try:
        resolution = check_resolution(data, **rules)
    except Invalid as e:
        errors = dict(e.errors)
    except InputConflict as e:
        conflicts = dict(e.errors)
    if scan is not None:
        try:
            stored = store_document(actor, scan, "scan")
        except Invalid as e:
            errors |= e.errors
    refuse(errors, conflicts)
    return resolution, stored


def put_in_force(actor: Actor, kind: str, adopted, previous, resolution: dict, stored: StoredFile | None,
                 snapshot) -> None:
    """Adopt a township version or a village rulebook: the one in force before it (if any) is
    retired on the new one's first day; both changes are audited as `<kind>.retire` / `<kind>.adopt`."""
    if previous is not None:
        before = snapshot(previous)
        previous.status, previous.retired_on = RETIRED, resolution["adopted_on"]
        record(actor, f"{kind}.retire", previous, before=before, after=snapshot(previous))
    before = snapshot(adopted)
    for k, v in resolution.items():
        setattr(adopted, k, v)
    adopted.status, adopted.adopted_by = ADOPTED, actor.id
    if stored is not None:
        adopted.scan_file_id = stored.id
    record(actor, f"{kind}.adopt", adopted, before=before, after=snapshot(adopted))


def iso(value) -> str | None:
    """Dates and ids as text for audit snapshots (stored as JSON)."""
    return None if value is None else value.isoformat() if isinstance(value, date) else str(value)


def resolution_snapshot(obj) -> dict:
    return {"status": obj.status, "assembly_date": iso(obj.assembly_date), "attendance": obj.attendance,
            "votes_for": obj.votes_for, "votes_against": obj.votes_against, "votes_abstain": obj.votes_abstain,
            "adopted_on": iso(obj.adopted_on), "retired_on": iso(obj.retired_on), "scan_file_id": iso(obj.scan_file_id)}
