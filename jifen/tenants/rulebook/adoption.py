"""Each village's adoption of the township rulebook, and the rules in force for a village on a day.

The township sets every item's allowed range; the village switches items off or picks its own
points within the range, and its own assembly adopts the result (a VillageRulebook). Once adopted
it is read-only; adopting the next one retires it on the day the next one takes force.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import or_, select

from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict, InputConflict, NotFound, refuse
from jifen.platform.files.service import store_document
from jifen.platform.pinyin import sort_by_pinyin
from jifen.platform.roles.authz import Actor, action, authorize, may
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.rulebook.checks import (
    Fields,
    iso,
    put_in_force,
    resolution_snapshot,
    resolution_with_scan,
)
from jifen.tenants.rulebook.models import (
    ADOPTED,
    DRAFT,
    RETIRED,
    RulebookVersion,
    RuleItem,
    VillageItemSetting,
    VillageRulebook,
)
from jifen.tenants.rulebook.service import MIN_POINTS, adopted_version, items_of, version_in_force
from jifen.tenants.villages.models import Village

register_url_object("village_rulebook_id", VillageRulebook)


@dataclass(frozen=True)
class EffectiveItem:
    """An item as a village applies it: switched on or off, and its points. When the village chose
    points (`overridden`) they are fixed at that value; otherwise `points` is the item's usual
    points and the item's whole range (points_min..points_max) remains open to the panel."""

    item: RuleItem
    enabled: bool
    points: int
    overridden: bool


@dataclass(frozen=True)
class RulesInForce:
    village_rulebook: VillageRulebook | None  # None: the township's version itself
    version: RulebookVersion
    items: list[EffectiveItem]

    def by_code(self, code: str) -> EffectiveItem | None:
        return next((e for e in self.items if e.item.code == code), None)


def effective_items(vr: VillageRulebook) -> list[EffectiveItem]:
    settings = {s.item_id: s for s in db.session.execute(
        select(VillageItemSetting).where(VillageItemSetting.village_rulebook_id == vr.id)).scalars()}
    out = []
    for item in items_of(vr.version_id):
        s = settings.get(item.id)
        points = s.points if s is not None and s.points is not None else item.points_default
        out.append(EffectiveItem(item, s.enabled if s else True, points, bool(s and s.points is not None)))
    return out


def rules_in_force(village_id, day: date) -> RulesInForce | None:
    """The rules that judge conduct of `day` in a village: the village's adoption in force that day
    (adopted on or before it, and not retired on or before it) with its effective items, or None
    when the village had no adopted rulebook that day. The points workflow calls this with the day
    the conduct happened, never today, so a late application is judged by the rules of its day."""
    vr = db.session.execute(
        select(VillageRulebook)
        .where(VillageRulebook.village_id == village_id, VillageRulebook.status.in_((ADOPTED, RETIRED)),
               VillageRulebook.adopted_on <= day,
               or_(VillageRulebook.retired_on.is_(None), VillageRulebook.retired_on > day))
        .order_by(VillageRulebook.adopted_on.desc())
    ).scalars().first()
    if vr is None:
        return None
    return RulesInForce(vr, tenant_get(RulebookVersion, vr.version_id), effective_items(vr))


def _village(village_id) -> Village:
    village = tenant_get_or_404(Village, village_id)
    return village


def _vr(vr_id) -> VillageRulebook:
    vr = tenant_get_or_404(VillageRulebook, vr_id)
    return vr


def _sees_drafts_of(actor: Actor, village: Village) -> bool:
    """A village's draft is work in progress of those who manage the village's rulebook; everyone
    else (a villager, a grid worker) sees adopted and retired rulebooks only, as with the
    township's drafts (`service._sees_drafts`)."""
    return may(actor, "village_rulebook.manage", village)


def _visible_vr(actor: Actor, vr_id) -> VillageRulebook:
    """The reach rule for one village rulebook: a draft the actor may not manage is not found."""
    vr = _vr(vr_id)
    if vr.status == DRAFT and not _sees_drafts_of(actor, _village(vr.village_id)):
        raise NotFound(_("Not found."))
    return vr


def _snapshot(vr: VillageRulebook) -> dict:
    return {"village_id": iso(vr.village_id), "version_id": iso(vr.version_id)} | resolution_snapshot(vr)


@action("rulebook.view")
def view_rules_in_force(actor: Actor, village_id, day: date) -> RulesInForce | None:
    """For a village, `rules_in_force`; with no village, the township's version in force that day
    with every item on at its usual points."""
    if village_id is not None:
        return rules_in_force(_village(village_id).id, day)
    version = version_in_force(day)
    if version is None:
        return None
    return RulesInForce(None, version, [EffectiveItem(i, True, i.points_default, False) for i in items_of(version.id)])


@action("rulebook.view")
def get_village(actor: Actor, village_id) -> Village:
    return _village(village_id)


@action("rulebook.view")
def village_overview(actor: Actor) -> list[tuple[Village, VillageRulebook | None, VillageRulebook | None]]:
    """Each village (pinyin order) with its adopted rulebook and its draft, if any."""
    rulebooks = db.session.execute(select(VillageRulebook).where(VillageRulebook.status != RETIRED)
                                   .order_by(VillageRulebook.created_at)).scalars().all()
    adopted = {vr.village_id: vr for vr in rulebooks if vr.status == ADOPTED}
    drafts = {vr.village_id: vr for vr in rulebooks if vr.status == DRAFT}
    villages = sort_by_pinyin(db.session.execute(select(Village)).scalars().all(), key=lambda v: v.name)
    return [(v, adopted.get(v.id), drafts.get(v.id) if v.id in drafts and _sees_drafts_of(actor, v) else None)
            for v in villages]


@action("rulebook.view")
def list_village_rulebooks(actor: Actor, village_id) -> list[VillageRulebook]:
    """Newest first; drafts only to those who manage the village's rulebook."""
    village = _village(village_id)
    query = select(VillageRulebook).where(VillageRulebook.village_id == village.id)
    if not _sees_drafts_of(actor, village):
        query = query.where(VillageRulebook.status != DRAFT)
    return list(db.session.execute(query.order_by(VillageRulebook.created_at.desc())).scalars())


@action("rulebook.view")
def get_village_rulebook(actor: Actor, vr_id) -> VillageRulebook:
    return _visible_vr(actor, vr_id)


@action("rulebook.view")
def village_items(actor: Actor, vr_id) -> list[EffectiveItem]:
    return effective_items(_visible_vr(actor, vr_id))


@action("village_rulebook.manage")
def start_village_rulebook(actor: Actor, village_id, data: dict | None = None) -> VillageRulebook:
    """A draft for the village from the township's adopted version (the one given, or the current)."""
    village = _village(village_id)
    authorize(actor, "village_rulebook.manage", village)
    f = Fields(data)
    given = f.uuid("version_id", _("A village starts from the township's adopted version."))
    f.check()
    version = tenant_get(RulebookVersion, given) if given else adopted_version()
    if version is None or version.status != ADOPTED:
        raise InputConflict.field("version_id", _("A village starts from the township's adopted version."))
    if db.session.execute(select(VillageRulebook.id).where(VillageRulebook.village_id == village.id,
                                                           VillageRulebook.version_id == version.id)).first():
        raise Conflict(_("%(village)s already has a rulebook from version %(n)d.", village=village.name,
                         n=version.number))
    vr = VillageRulebook(village_id=village.id, version_id=version.id, status=DRAFT)
    db.session.add(vr)
    db.session.flush()
    record(actor, "village_rulebook.create", vr, after=_snapshot(vr))
    return vr


def _managed(actor: Actor, vr_id, draft: bool = True) -> VillageRulebook:
    vr = _vr(vr_id)
    authorize(actor, "village_rulebook.manage", tenant_get(Village, vr.village_id))
    if draft and vr.status != DRAFT:
        raise Conflict(_("The village's adopted rulebook cannot change; start one from the next township version."))
    return vr


@action("village_rulebook.manage")
def managed_village_rulebook(actor: Actor, vr_id) -> VillageRulebook:
    """A village's rulebook for a page whose form manages it: loaded under the same scoped check
    as the form's action, so the form of a village out of reach is a 404 like its POST (reading
    any village's rulebook stays open through `get_village_rulebook`)."""
    return _managed(actor, vr_id, draft=False)


def _check_setting(item: RuleItem, data: dict, name: str, errors: dict, conflicts: dict) -> tuple[bool, int | None]:
    """(enabled, points or None for the usual points). Points that are no whole number of the
    declared range go into `errors[name]` (422); points outside the item's own range, into
    `conflicts[name]` (409: the range is the stored item's). Both say the item's range."""
    f = Fields(data)
    enabled = f.flag("enabled", default=True)
    points = f.number("points", required=False, minimum=MIN_POINTS)
    if f.bad("points") or (points is not None and not item.points_min <= points <= item.points_max):
        message = _("%(code)s %(title)s: the points must be a whole number from %(lo)d to %(hi)d.",
                    code=item.code, title=item.title_zh, lo=item.points_min, hi=item.points_max)
        (errors if f.bad("points") else conflicts)[name] = [message]
        return enabled, None
    return enabled, points


def _apply(vr: VillageRulebook, item: RuleItem, enabled: bool, points: int | None) -> tuple[dict, dict] | None:
    setting = db.session.execute(select(VillageItemSetting).where(
        VillageItemSetting.village_rulebook_id == vr.id, VillageItemSetting.item_id == item.id)).scalar_one_or_none()
    before = {"enabled": setting.enabled, "points": setting.points} if setting else {"enabled": True, "points": None}
    after = {"enabled": enabled, "points": points}
    if before == after:
        return None
    if setting is None:
        db.session.add(VillageItemSetting(village_rulebook_id=vr.id, item_id=item.id, enabled=enabled, points=points))
    else:
        setting.enabled, setting.points = enabled, points
    return before, after


@action("village_rulebook.manage")
def set_village_item(actor: Actor, vr_id, item_id, data: dict) -> EffectiveItem:
    """Switch one item on or off and set its points (blank: the item's usual points)."""
    vr = _managed(actor, vr_id)
    item = tenant_get(RuleItem, item_id)
    if item is None or item.version_id != vr.version_id:
        raise NotFound(_("Not found."))
    errors, conflicts = {}, {}
    enabled, points = _check_setting(item, data, "points", errors, conflicts)
    refuse(errors, conflicts)
    change = _apply(vr, item, enabled, points)
    if change:
        record(actor, "village_rulebook.items", vr, before={item.code: change[0]}, after={item.code: change[1]})
    db.session.flush()
    return next(e for e in effective_items(vr) if e.item.id == item.id)


@action("village_rulebook.manage")
def set_village_items(actor: Actor, vr_id, rows: dict) -> VillageRulebook:
    """The whole page at once: `rows` maps an item id (text) to {enabled, points}. Errors are named
    `points-<item id>`, the page's input for that item; one audit entry lists what changed."""
    vr = _managed(actor, vr_id)
    checked, errors, conflicts = [], {}, {}
    for item in items_of(vr.version_id):
        if str(item.id) in rows:
            enabled, points = _check_setting(item, rows[str(item.id)], f"points-{item.id}", errors, conflicts)
            checked.append((item, enabled, points))
    refuse(errors, conflicts)
    before, after = {}, {}
    for item, enabled, points in checked:
        change = _apply(vr, item, enabled, points)
        if change:
            before[item.code], after[item.code] = change
    if after:
        record(actor, "village_rulebook.items", vr, before=before, after=after)
    db.session.flush()
    return vr


@action("village_rulebook.manage")
def adopt_village_rulebook(actor: Actor, vr_id, data: dict, scan=None) -> VillageRulebook:
    """The village assembly's resolution (same rules as the township's, and not in force before the
    township version); the village's previously adopted rulebook is retired that day."""
    vr = _managed(actor, vr_id)
    version = tenant_get(RulebookVersion, vr.version_id)
    if version.status != ADOPTED:
        raise Conflict(_("The township has adopted a newer version; start the village's rulebook from it."))
    if not any(e.enabled for e in effective_items(vr)):
        raise Conflict(_("Switch on at least one item before adopting."))
    previous = db.session.execute(select(VillageRulebook).where(
        VillageRulebook.village_id == vr.village_id, VillageRulebook.status == ADOPTED)).scalars().first()
    resolution, stored = resolution_with_scan(actor, data, scan, in_force_from=version.adopted_on,
                                              previous=previous.adopted_on if previous else None)
    put_in_force(actor, "village_rulebook", vr, previous, resolution, stored, _snapshot)
    return vr


@action("village_rulebook.manage")
def attach_village_scan(actor: Actor, vr_id, scan) -> VillageRulebook:
    """The scanned resolution, for a draft or the adopted rulebook (it documents, it changes no rule)."""
    vr = _managed(actor, vr_id, draft=False)
    if vr.status == RETIRED:
        raise Conflict(_("This rulebook is retired; its record cannot change."))
    stored = store_document(actor, scan, "scan")
    before = _snapshot(vr)
    vr.scan_file_id = stored.id
    record(actor, "village_rulebook.scan", vr, before=before, after=_snapshot(vr))
    return vr
