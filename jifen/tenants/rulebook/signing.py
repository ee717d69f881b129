"""全员签约: every household signs its village's adopted rulebook; the signing report.

Decisions: the signer's name is free text (the head's spouse or a member not yet on the roster
may sign; the form suggests the current members); a witness is required; `signed_on` is neither
in the future nor before the assembly that adopted the rulebook. The bulk form records all the
ticked households in one transaction (all or none) with one audit entry per signature, so each
household's own trail shows its signature. A household counts as signed when it signed its
village's currently adopted rulebook: a new adoption asks everyone to sign again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import case, exists, func, select

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict, Invalid, NotFound, refuse
from jifen.platform.files.service import store_document
from jifen.platform.input import Uuid, check
from jifen.platform.paging import Page
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles import reach
from jifen.platform.roles.authz import Actor, action, authorize, may, scope_ids
from jifen.platform.tenancy import tenant_get, tenant_get_or_404
from jifen.tenants.households.models import ACTIVE, Household, Resident
from jifen.tenants.households.service import scope_condition
from jifen.tenants.rulebook.checks import Fields, iso
from jifen.tenants.rulebook.models import ADOPTED, CommitmentSignature, VillageRulebook
from jifen.tenants.villages.models import GridNode, Village

PAGE_SIZE = 50
MAX_NAME = 64  # a signer's or a witness's name (the API document declares the same limit)


# --- scope ---------------------------------------------------------------------------------------

def nodes_reached(actor: Actor, action_name: str) -> set | None:
    """Ids of the grid nodes the actor reaches for the action (None: all); households are limited
    by `households.service.scope_condition`. Both ask the one reach rule."""
    condition = reach.where(actor, action_name, GridNode)
    return None if condition is None else set(db.session.execute(select(GridNode.id).where(condition)).scalars())


def _subtree_ids(path: str):
    return select(GridNode.id).where(GridNode.path.startswith(path))


def nodes_in_scope(actor: Actor, action_name: str, village_id=None) -> list[GridNode]:
    """Active grid nodes the actor reaches for the action (of one village, if given), in tree order."""
    query = reach.filtered(select(GridNode), actor, action_name, GridNode)
    query = query.where(GridNode.retired_at.is_(None)).order_by(GridNode.path)
    if village_id is not None:
        query = query.where(GridNode.village_id == village_id)
    return list(db.session.execute(query).scalars())


def _known_village(village_id):
    if village_id is not None and tenant_get(Village, village_id) is None:
        raise NotFound(_("Not found."))
    return village_id


def _signed():
    """True for a household that signed its village's currently adopted rulebook."""
    return exists().where(CommitmentSignature.household_id == Household.id,
                          CommitmentSignature.village_rulebook_id == VillageRulebook.id,
                          VillageRulebook.village_id == Household.village_id, VillageRulebook.status == ADOPTED)


# --- the report ----------------------------------------------------------------------------------

@dataclass
class Rate:
    total: int = 0
    signed: int = 0

    @property
    def unsigned(self) -> int:
        return self.total - self.signed

    @property
    def percent(self) -> float | None:
        return round(100 * self.signed / self.total, 1) if self.total else None


@dataclass
class VillageRate(Rate):
    village: Village | None = None
    rulebook: VillageRulebook | None = None  # the adopted one households sign


@dataclass
class NodeRate(Rate):
    node: GridNode | None = None


@dataclass
class Report:
    villages: list[VillageRate] = field(default_factory=list)
    nodes: list[NodeRate] = field(default_factory=list)  # tree order, each counting its whole subtree


@action("commitment.report")
def signing_report(actor: Actor, village_id=None) -> Report:
    """Active households and how many signed, per village and per grid node (every level, each
    node counting the households of its whole subtree), within the actor's scope."""
    reached, village_id = nodes_reached(actor, "commitment.report"), _known_village(village_id)
    granted = scope_ids(actor, "commitment.report", "village")
    condition = scope_condition(actor, "commitment.report")
    query = (select(Household.village_id, Household.grid_node_id, func.count(),
                    func.sum(case((_signed(), 1), else_=0)))
             .where(Household.status == ACTIVE).group_by(Household.village_id, Household.grid_node_id))
    if condition is not None:
        query = query.where(condition)
    if village_id is not None:
        query = query.where(Household.village_id == village_id)
    nodes = {n.id: n for n in db.session.execute(select(GridNode)).scalars()}
    adopted = {vr.village_id: vr for vr in db.session.execute(
        select(VillageRulebook).where(VillageRulebook.status == ADOPTED)).scalars()}
    villages, by_node = {}, {}
    for v_id, node_id, total, signed in db.session.execute(query):
        rate = villages.setdefault(v_id, VillageRate())
        rate.total, rate.signed = rate.total + total, rate.signed + (signed or 0)
        for ancestor in nodes[node_id].ancestor_ids() if node_id in nodes else ():
            node_rate = by_node.setdefault(ancestor, NodeRate(node=nodes.get(ancestor)))
            node_rate.total, node_rate.signed = node_rate.total + total, node_rate.signed + (signed or 0)
    shown = {v.id: v for v in db.session.execute(select(Village)).scalars()
             if (granted is None or v.id in granted or v.id in villages)
             and (village_id is None or v.id == village_id)}
    report = Report()
    for v in sort_by_pinyin(shown.values(), key=lambda v: v.name):
        rate = villages.get(v.id, VillageRate())
        rate.village, rate.rulebook = v, adopted.get(v.id)
        report.villages.append(rate)
    for node in sorted(nodes.values(), key=lambda n: n.path):
        if node.retired_at is None and (reached is None or node.id in reached) and (
                village_id is None or node.village_id == village_id or node.id in by_node):
            report.nodes.append(by_node.get(node.id, NodeRate(node=node)))
    return report


def _unsigned(condition, village_id=None, grid_node_id=None, page: int = 1, per_page: int = PAGE_SIZE) -> Page:
    query = select(Household).where(Household.status == ACTIVE, ~_signed())
    if condition is not None:
        query = query.where(condition)
    if village_id is not None:
        query = query.where(Household.village_id == village_id)
    if grid_node_id is not None:
        node = tenant_get_or_404(GridNode, grid_node_id)
        query = query.where(Household.grid_node_id.in_(_subtree_ids(node.path)))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar()
    page = max(1, min(page, -(-total // per_page) or 1))
    items = db.session.execute(query.order_by(Household.head_pinyin, Household.head_name, Household.door_plate,
                                              Household.id)
                               .limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return Page(list(items), total, page, per_page)


@action("commitment.report")
def unsigned_households(actor: Actor, village_id=None, grid_node_id=None, page: int = 1) -> Page:
    """Active households in scope that have not signed, in pinyin order of the head's name."""
    return _unsigned(scope_condition(actor, "commitment.report"), _known_village(village_id), grid_node_id, page)


# --- recording signatures ------------------------------------------------------------------------

def _signable(actor: Actor, vr_id) -> VillageRulebook:
    """The adopted rulebook of a village where the actor may record signatures: one they reach as
    a whole or through one of its grid nodes; any other is missing (404), like another village's
    household. Every signing form and action loads its rulebook here, so none can skip the check."""
    vr = tenant_get_or_404(VillageRulebook, vr_id)
    village = tenant_get_or_404(Village, vr.village_id)
    if not (may(actor, "commitment.record", village) or nodes_in_scope(actor, "commitment.record", vr.village_id)):
        raise NotFound(_("Not found."))
    if vr.status != ADOPTED:
        raise Conflict(_("Households sign the village's adopted rulebook."))
    return vr


@action("commitment.record")
def rulebook_to_sign(actor: Actor, vr_id) -> VillageRulebook:
    return _signable(actor, vr_id)


@action("commitment.record")
def households_to_sign(actor: Actor, vr_id, grid_node_id=None, page: int = 1) -> Page:
    """The village's active households the actor may record for and that have not signed."""
    vr = _signable(actor, vr_id)
    return _unsigned(scope_condition(actor, "commitment.record"), vr.village_id, grid_node_id, page, per_page=100)


@action("commitment.record")
def signing_household(actor: Actor, vr_id, household_id) -> tuple[VillageRulebook, Household, list[str]]:
    """The rulebook, the household and its current members' names (suggested signers)."""
    vr = _signable(actor, vr_id)
    household = _household(actor, household_id)
    members = db.session.execute(select(Resident.name).where(Resident.household_id == household.id,
                                                             Resident.left_on.is_(None))
                                 .order_by(Resident.sort_order, Resident.name)).scalars().all()
    return vr, household, list(members)


def _household(actor: Actor, household_id) -> Household:
    if not household_id:
        raise Invalid.field("household_id", _("Choose a household."))
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, "commitment.record", household)
    return household


def _check_household(f: Fields, vr: VillageRulebook, household: Household, name: str) -> None:
    if household.village_id != vr.village_id:
        f.conflict(name, _("%(head)s (%(plate)s) belongs to another village.", head=household.head_name,
                       plate=household.door_plate))
    elif household.status != ACTIVE:
        f.conflict(name, _("%(head)s (%(plate)s) is not an active household.", head=household.head_name,
                       plate=household.door_plate))


def _check_day(f: Fields, vr: VillageRulebook, day: date | None) -> None:
    if day and day > clock.today():
        f.conflict("signed_on", _("The signing day cannot be in the future."))
    elif day and vr.assembly_date and day < vr.assembly_date:
        f.conflict("signed_on", _("The rulebook was adopted by the assembly on %(day)s; signing comes after.",
                              day=vr.assembly_date))


def _refuse_repeats(vr: VillageRulebook, households: list[Household]) -> None:
    done = set(db.session.execute(select(CommitmentSignature.household_id).where(
        CommitmentSignature.village_rulebook_id == vr.id,
        CommitmentSignature.household_id.in_([h.id for h in households]))).scalars())
    repeats = [h for h in households if h.id in done]
    if repeats:
        names = ", ".join(f"{h.head_name} ({h.door_plate})" for h in repeats)
        message = _("Already signed this rulebook: %(names)s.", names=names)
        raise Conflict(message, {"household_id": [message]})


def _snapshot(s: CommitmentSignature) -> dict:
    return {"village_rulebook_id": iso(s.village_rulebook_id), "household_id": iso(s.household_id),
            "signed_on": iso(s.signed_on), "signer_name": s.signer_name, "witness_name": s.witness_name,
            "scan_file_id": iso(s.scan_file_id)}


def _sign(actor: Actor, vr: VillageRulebook, rows: list[tuple[Household, date, str, str, object]]
          ) -> list[CommitmentSignature]:
    """Write the signatures (household, day, signer, witness, scan file id), one flush for all."""
    signatures = [CommitmentSignature(village_rulebook_id=vr.id, household_id=h.id, signed_on=day, signer_name=signer,
                                      witness_name=witness, scan_file_id=scan_id, recorded_by=actor.id)
                  for h, day, signer, witness, scan_id in rows]
    db.session.add_all(signatures)
    db.session.flush()
    for signature in signatures:
        record(actor, "commitment.sign", signature, after=_snapshot(signature))
    return signatures


@action("commitment.record")
def record_signature(actor: Actor, vr_id, data: dict, scan=None) -> CommitmentSignature:
    """One household's signature, with an optional scan of the signed paper."""
    vr = _signable(actor, vr_id)
    household = _household(actor, data.get("household_id"))
    f = Fields(data)
    day = f.day("signed_on")
    signer, witness = f.text("signer_name", MAX_NAME, required=True), f.text("witness_name", MAX_NAME, required=True)
    _check_household(f, vr, household, "household_id")
    _check_day(f, vr, day)
    stored = None
    if scan is not None:
        try:
            stored = store_document(actor, scan, "scan")
        except Invalid as e:
            f.errors |= e.errors
    f.check()
    _refuse_repeats(vr, [household])
    return _sign(actor, vr, [(household, day, signer, witness, stored.id if stored else None)])[0]


@action("commitment.record")
def record_signatures(actor: Actor, vr_id, household_ids: list, data: dict) -> list[CommitmentSignature]:
    """Many households of a grid signed on one day before one witness (each signer: the head)."""
    vr = _signable(actor, vr_id)
    f = Fields(data)
    day, witness = f.day("signed_on"), f.text("witness_name", MAX_NAME, required=True)
    ticked = [check(Uuid(_("Tick households from the list.")), i, "household_ids", f.errors)
              for i in household_ids or []]
    ids = list(dict.fromkeys(i for i in ticked if i is not None))
    if not ids and not f.bad("household_ids"):
        f.fail("household_ids", _("Tick at least one household."))
    refuse(f.errors, {})  # the day is checked with the households, once they are known
    households = db.session.execute(select(Household).where(Household.id.in_(ids))).scalars().all()
    if len(households) != len(ids):
        raise NotFound(_("Not found."))
    for household in households:
        authorize(actor, "commitment.record", household)
        _check_household(f, vr, household, "household_ids")
    _check_day(f, vr, day)
    f.check()
    _refuse_repeats(vr, households)
    return _sign(actor, vr, [(h, day, h.head_name or h.door_plate, witness, None)
                             for h in sort_by_pinyin(households, key=lambda h: h.head_name)])
