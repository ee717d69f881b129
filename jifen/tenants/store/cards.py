"""Household QR cards (户卡): a printable A4 sheet of cards per grid node, for the store counter.

Each household has at most one live card. Its QR code holds a link to the store counter with the
card's code, and the code is printed under it for typing (8 characters of an alphabet without
look-alikes, shown as ABCD-EFGH). The code is random, not the household id, unique in the township;
reissuing a card revokes the old one, so a lost card stops working. Opening the link needs a
storekeeper's (or township admin's) sign-in: the code alone shows nothing to anyone else.
"""
from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlsplit

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db, new_id
from jifen.platform.errors import NotFound
from jifen.platform.pinyin import pinyin_key
from jifen.platform.qr import qr_svg  # noqa: F401  (the cards views and tests call cards.qr_svg)
from jifen.platform.roles.authz import Actor, action, authorize, scope_ids
from jifen.platform.tenancy import current_tenant_id, tenant_get, tenant_get_or_404
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.store.models import HouseholdCard, Store
from jifen.tenants.villages.models import GridNode, Village

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: typed from paper without guessing
CODE_LENGTH = 8
MAX_SHEET = 600  # households on one sheet (60 pages); a bigger grid prints its smaller grids


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def shown(code: str) -> str:
    """ABCDEFGH -> ABCD-EFGH, as printed."""
    return f"{code[:4]}-{code[4:]}" if code else ""


def normalise(text) -> str:
    """What someone typed (lower case, spaces, the dash, O for 0 …) as a stored code, or ''."""
    code = re.sub(r"[^0-9A-Z]", "", str(text or "").upper()[:40])
    return code if len(code) == CODE_LENGTH and all(c in ALPHABET for c in code) else ""


def scanned(text) -> str:
    """What a scanner read or someone pasted: a card's counter link (its `card` parameter), or the
    code itself as typed; '' when it is neither."""
    text = str(text or "").strip()[:300]
    if "card=" in text:
        return normalise((parse_qs(urlsplit(text).query).get("card") or [""])[0])
    return normalise(text)


# --- who may print ------------------------------------------------------------------------------

ALL = "all"


def _keeper_villages(actor: Actor):
    """The villages whose households the actor's store(s) serve: a village store its village's, a
    township store every village's (ALL); an empty set for those who keep no store."""
    stores = scope_ids(actor, "household_card.print", "store") or set()
    if not stores:
        return set()
    found = db.session.execute(select(Store.village_id).where(Store.id.in_(list(stores)))).scalars().all()
    return ALL if None in found else set(found)


def _reach(actor: Actor, target, village_id, keeper_villages=None) -> None:
    """Village admins and grid workers through their scope; storekeepers through their store."""
    try:
        authorize(actor, "household_card.print", target)
    except NotFound:
        served = _keeper_villages(actor) if keeper_villages is None else keeper_villages
        if served != ALL and village_id not in served:
            raise


@action("household_card.print")
def printable_nodes(actor: Actor) -> list[tuple[GridNode, str]]:
    """Grid nodes whose sheet the actor may print, in tree order, with their village's name."""
    nodes = db.session.execute(select(GridNode).where(GridNode.retired_at.is_(None)).order_by(GridNode.path)).scalars()
    villages = {v.id: v.name for v in db.session.execute(select(Village)).scalars()}
    served = _keeper_villages(actor)
    out = []
    for node in nodes:
        try:
            _reach(actor, node, node.village_id, served)
        except NotFound:
            continue
        out.append((node, villages.get(node.village_id, "")))
    return out


# --- cards ----------------------------------------------------------------------------------------

def live_card(household_id) -> HouseholdCard | None:
    return db.session.execute(select(HouseholdCard).where(HouseholdCard.household_id == household_id,
                                                          HouseholdCard.revoked_at.is_(None))).scalar_one_or_none()


def find(code_text) -> HouseholdCard | None:
    """The live card with this code (as typed, pasted or scanned), or None. Another township's code
    finds nothing: the tenant guard adds the township to the query."""
    code = scanned(code_text)
    if not code:
        return None
    return db.session.execute(select(HouseholdCard).where(HouseholdCard.code == code,
                                                          HouseholdCard.revoked_at.is_(None))).scalar_one_or_none()


def _issue_missing(actor: Actor, household_ids: list) -> int:
    """Give every household of `household_ids` without a live card a new one (insert-or-ignore: a
    sheet printed twice at once issues one card each). Returns how many were issued."""
    have = set(db.session.execute(select(HouseholdCard.household_id).where(
        HouseholdCard.household_id.in_(household_ids), HouseholdCard.revoked_at.is_(None))).scalars())
    missing = [h for h in household_ids if h not in have]
    if not missing:
        return 0
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    issued = 0
    for _attempt in range(3):  # a code clash (one in ~10^12) is simply tried again
        rows = [{"tenant_id": current_tenant_id(), "id": new_id(), "household_id": h, "code": new_code(),
                 "issued_at": clock.now(), "issued_by_name": actor.name[:100], "revoked_by_name": ""} for h in missing]
        # raw insert: the tenant is bound explicitly (reviewed; see tenancy.py)
        db.session.execute(insert(HouseholdCard).values(rows).on_conflict_do_nothing())
        have = set(db.session.execute(select(HouseholdCard.household_id).where(
            HouseholdCard.household_id.in_(missing), HouseholdCard.revoked_at.is_(None))).scalars())
        issued += len(have)
        missing = [h for h in missing if h not in have]
        if not missing:
            break
    return issued


def _node_households(node: GridNode) -> list[Household]:
    """Active households in the node's subtree, in natural door-plate order."""
    households = db.session.execute(
        select(Household).join(GridNode, (GridNode.id == Household.grid_node_id)
                               & (GridNode.tenant_id == Household.tenant_id))
        .where(Household.status == ACTIVE, GridNode.path.startswith(node.path, autoescape=True))
        .limit(MAX_SHEET + 1)).scalars().all()
    return sorted(households, key=lambda h: (_plate_key(h.door_plate), pinyin_key(h.head_name)))


@action("household_card.print")
def sheet(actor: Actor, grid_node_id) -> dict:
    """The live cards of the active households in the grid node's subtree, in door-plate order,
    and the households still without one (`issue_for_node` issues theirs). Reads only."""
    node = tenant_get_or_404(GridNode, grid_node_id)
    _reach(actor, node, node.village_id)
    households = _node_households(node)
    more = len(households) > MAX_SHEET
    households = households[:MAX_SHEET]
    cards = {c.household_id: c for c in db.session.execute(select(HouseholdCard).where(
        HouseholdCard.household_id.in_([h.id for h in households]), HouseholdCard.revoked_at.is_(None))).scalars()}
    villages = {v.id: v.name for v in db.session.execute(select(Village)).scalars()}
    return {"node": node, "village": villages.get(node.village_id, ""),
            "cards": [{"household": h, "card": cards[h.id], "village": villages.get(h.village_id, "")}
                      for h in households if h.id in cards],
            "missing": [h for h in households if h.id not in cards], "more": more}


@action("household_card.print")
def issue_for_node(actor: Actor, grid_node_id) -> int:
    """Issue a card to every active household of the node's subtree that has none (audited once)."""
    node = tenant_get_or_404(GridNode, grid_node_id)
    _reach(actor, node, node.village_id)
    issued = _issue_missing(actor, [h.id for h in _node_households(node)[:MAX_SHEET]])
    if issued:
        record(actor, "household_card.issue", node, after={"issued": issued})
    return issued


def _plate_key(plate: str) -> tuple:
    """Door plates in natural order: 2号 before 10号."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|\D+", plate or ""))


def _household_in_reach(actor: Actor, household_id) -> Household:
    household = tenant_get_or_404(Household, household_id)
    _reach(actor, household, household.village_id)
    return household


@action("household_card.print")
def card_of(actor: Actor, household_id) -> tuple[Household, HouseholdCard | None]:
    """One household and its live card (None: not issued yet, or revoked)."""
    household = _household_in_reach(actor, household_id)
    return household, live_card(household.id)


@action("household_card.print")
def reissue(actor: Actor, household_id) -> HouseholdCard:
    """Issue the household's card, or for a lost one: revoke it and issue a new one, new code."""
    household = _household_in_reach(actor, household_id)
    if household.status != ACTIVE:
        raise NotFound(_("Not found."))
    old = revoke(actor, household_id)
    card = HouseholdCard(household_id=household.id, code=new_code(), issued_by_name=actor.name[:100])
    db.session.add(card)
    db.session.flush()
    record(actor, "household_card.reissue", household, before={"code": old.code if old else None},
           after={"code": card.code})
    return card


@action("household_card.print")
def revoke(actor: Actor, household_id) -> HouseholdCard | None:
    """Revoke the household's live card (it stops opening the counter); returns it, or None."""
    household = _household_in_reach(actor, household_id)
    card = db.session.execute(select(HouseholdCard).where(HouseholdCard.household_id == household.id,
                                                          HouseholdCard.revoked_at.is_(None))
                              .with_for_update()).scalar_one_or_none()
    if card is None:
        return None
    card.revoked_at, card.revoked_by_name = clock.now(), actor.name[:100]
    db.session.flush()
    record(actor, "household_card.revoke", household, after={"code": card.code})
    return card


# --- the villager's own code ("My QR code", shown on the phone at the counter) ------------------------

def _own_household(actor: Actor, household_id) -> Household:
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, "household_card.own", household)
    if household.status != ACTIVE:
        raise NotFound(_("Not found."))
    return household


@action("household_card.own")
def own_card(actor: Actor, household_id) -> tuple[Household, HouseholdCard | None]:
    """The villager's own household and its live card (the same code as the printed card)."""
    household = _own_household(actor, household_id)
    return household, live_card(household.id)


@action("household_card.own")
def issue_own(actor: Actor, household_id) -> HouseholdCard:
    """A villager's first code, when the storekeeper has printed none yet; an existing card is kept
    (a lost card is replaced by the storekeeper, who revokes the old one)."""
    household = _own_household(actor, household_id)
    if _issue_missing(actor, [household.id]):
        record(actor, "household_card.issue", household, after={"issued": 1})
    return live_card(household.id)


def household_of(card: HouseholdCard | None) -> Household | None:
    return tenant_get(Household, card.household_id) if card else None
