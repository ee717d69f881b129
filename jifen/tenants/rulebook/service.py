"""The township rulebook: categories, versions and their items, and adopting a version.

A version is a draft until the villagers' representative assembly adopts it; from then on it is
read-only and a change makes a new version (a copy of its items, codes included). Adopting a
version retires the one before it on the day the new one takes force, so for any day exactly one
version, or none, is in force (`version_in_force`): points are judged by the version in force on
the day the conduct happened.
"""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict, NotFound
from jifen.platform.files.service import store_document
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action, may
from jifen.platform.tenancy import register_url_object, tenant_get, tenant_get_or_404
from jifen.tenants.rulebook.checks import Fields, iso, put_in_force, resolution_snapshot, resolution_with_scan
from jifen.tenants.rulebook.models import (
    ADOPTED,
    AWARD,
    CAP_PERIODS,
    DEDUCTION,
    DRAFT,
    INITIATORS,
    RETIRED,
    REVIEWS,
    UNITS,
    RulebookVersion,
    RuleCategory,
    RuleItem,
)

register_url_object("category_id", RuleCategory)
register_url_object("version_id", RulebookVersion)

# the limits the service checks with and the API document declares (`api.py`, with the twins of
# `platform.input`)
MAX_CATEGORY_ZH = 32
MAX_CATEGORY_EN = 64
MAX_TITLE = 200  # a version's title, an item's titles
MAX_CODE = 32
MAX_DESCRIPTION = 2000
MIN_POINTS = 1  # points are magnitudes; `direction` gives the sign
MIN_ORDER = 0
register_url_object("item_id", RuleItem)

# the categories the issue suggests; offered by `add_standard_categories`, never inserted unasked
STANDARD_CATEGORIES = (
    ("人居环境", "Living environment"), ("文明新风", "Civic virtue"), ("志愿服务", "Volunteer service"),
    ("党建引领", "Party leadership"), ("脱贫致富", "Prosperity"), ("遵纪守法", "Law and order"),
    ("移风易俗", "Reformed customs"),
)


# --- categories ---------------------------------------------------------------------------------

def _category_snapshot(c: RuleCategory) -> dict:
    return {"name_zh": c.name_zh, "name_en": c.name_en, "sort_order": c.sort_order}


@action("rulebook.view")
def list_categories(actor: Actor) -> list[RuleCategory]:
    categories = db.session.execute(select(RuleCategory)).scalars().all()
    return sorted(categories, key=lambda c: (c.sort_order, pinyin_key(c.name_zh)))


def _next_category_order() -> int:
    return (db.session.execute(select(func.max(RuleCategory.sort_order))).scalar() or 0) + 1


def _check_category(data: dict, category: RuleCategory | None = None) -> dict:
    f = Fields(data)
    name_zh = f.text("name_zh", MAX_CATEGORY_ZH, required=True)
    name_en = f.text("name_en", MAX_CATEGORY_EN)
    order = f.number("sort_order", required=False, minimum=MIN_ORDER)
    clash = db.session.execute(select(RuleCategory.id).where(RuleCategory.name_zh == name_zh)).scalar() \
        if name_zh else None
    if clash and (category is None or clash != category.id):
        f.conflict("name_zh", _("Another category already has this name."))
    f.check()
    if order is None:
        order = category.sort_order if category else _next_category_order()
    return {"name_zh": name_zh, "name_en": name_en, "sort_order": order}


@action("rulebook.manage")
def create_category(actor: Actor, data: dict) -> RuleCategory:
    category = RuleCategory(**_check_category(data))
    db.session.add(category)
    db.session.flush()
    record(actor, "rule_category.create", category, after=_category_snapshot(category))
    return category


def _category(category_id) -> RuleCategory:
    category = tenant_get_or_404(RuleCategory, category_id)
    return category


@action("rulebook.view")
def get_category(actor: Actor, category_id) -> RuleCategory:
    return _category(category_id)


@action("rulebook.manage")
def update_category(actor: Actor, category_id, data: dict) -> RuleCategory:
    """Rename or reorder (sort_order) a category; every version shows the new name."""
    category = _category(category_id)
    before = _category_snapshot(category)
    for k, v in _check_category(data, category).items():
        setattr(category, k, v)
    record(actor, "rule_category.update", category, before=before, after=_category_snapshot(category))
    return category


@action("rulebook.manage")
def add_standard_categories(actor: Actor) -> list[RuleCategory]:
    """Add those of the seven standard categories the township does not have yet."""
    have = set(db.session.execute(select(RuleCategory.name_zh)).scalars())
    order, added = _next_category_order(), []
    for name_zh, name_en in STANDARD_CATEGORIES:
        if name_zh not in have:
            added.append(RuleCategory(name_zh=name_zh, name_en=name_en, sort_order=order))
            order += 1
    db.session.add_all(added)
    db.session.flush()
    for category in added:
        record(actor, "rule_category.create", category, after=_category_snapshot(category))
    return added


# --- versions ------------------------------------------------------------------------------------

def _version_snapshot(v: RulebookVersion) -> dict:
    return {"number": v.number, "title": v.title, "based_on_id": iso(v.based_on_id)} | resolution_snapshot(v)


def _sees_drafts(actor: Actor) -> bool:
    """Drafts are work in progress of the township admins; everyone else sees adopted rules only."""
    return may(actor, "rulebook.manage")


@action("rulebook.view")
def list_versions(actor: Actor) -> list[RulebookVersion]:
    """Newest first."""
    query = select(RulebookVersion).order_by(RulebookVersion.number.desc())
    if not _sees_drafts(actor):
        query = query.where(RulebookVersion.status != DRAFT)
    return list(db.session.execute(query).scalars())


def _version(version_id) -> RulebookVersion:
    version = tenant_get_or_404(RulebookVersion, version_id)
    return version


def _draft(version_id) -> RulebookVersion:
    version = _version(version_id)
    if version.status != DRAFT:
        raise Conflict(_("Version %(n)d is adopted or retired and cannot change; start a new version from it.",
                         n=version.number))
    return version


@action("rulebook.view")
def get_version(actor: Actor, version_id) -> RulebookVersion:
    version = _version(version_id)
    if version.status == DRAFT and not _sees_drafts(actor):
        raise NotFound(_("Not found."))
    return version


@action("rulebook.manage")
def create_version(actor: Actor, data: dict) -> RulebookVersion:
    """A new draft: empty, or a copy of another version's items (codes kept, so a rule keeps its
    identity from version to version)."""
    f = Fields(data)
    title = f.text("title", MAX_TITLE)
    based_on_id = f.uuid("based_on_id", _("Choose a version of this township."))
    if not title and based_on_id is None and not f.bad("title") and not f.bad("based_on_id"):
        f.fail("title", _("Please fill this in."))  # the API document: a title, or a version to copy
    based_on = tenant_get(RulebookVersion, based_on_id) if based_on_id else None
    if based_on_id and based_on is None:
        f.conflict("based_on_id", _("Choose a version of this township."))
    f.check()
    title = title or based_on.title
    number = (db.session.execute(select(func.max(RulebookVersion.number))).scalar() or 0) + 1
    version = RulebookVersion(number=number, title=title, status=DRAFT, based_on_id=based_on.id if based_on else None)
    db.session.add(version)
    db.session.flush()
    copied = 0
    if based_on is not None:
        for item in items_of(based_on.id):
            db.session.add(RuleItem(version_id=version.id, **{k: getattr(item, k) for k in ITEM_FIELDS}))
            copied += 1
        db.session.flush()
    record(actor, "rulebook_version.create", version, after=_version_snapshot(version) | {"items_copied": copied})
    return version


@action("rulebook.manage")
def update_version(actor: Actor, version_id, data: dict) -> RulebookVersion:
    version = _draft(version_id)
    f = Fields(data)
    title = f.text("title", MAX_TITLE, required=True)
    f.check()
    before = _version_snapshot(version)
    version.title = title
    record(actor, "rulebook_version.update", version, before=before, after=_version_snapshot(version))
    return version


def adopted_version() -> RulebookVersion | None:
    """The version adopted last (it may take force on a later day); older ones are retired."""
    return db.session.execute(select(RulebookVersion).where(RulebookVersion.status == ADOPTED)).scalars().first()


@action("rulebook.manage")
def adopt_version(actor: Actor, version_id, data: dict, scan=None) -> RulebookVersion:
    """Record the assembly resolution (see `checks.check_resolution`) and put the draft in force
    from `adopted_on`; the version adopted before it is retired on that day."""
    version = _draft(version_id)
    if not items_of(version.id):
        raise Conflict(_("Add at least one item before adopting the version."))
    previous = adopted_version()
    resolution, stored = resolution_with_scan(actor, data, scan, previous=previous.adopted_on if previous else None)
    put_in_force(actor, "rulebook_version", version, previous, resolution, stored, _version_snapshot)
    return version


@action("rulebook.manage")
def attach_version_scan(actor: Actor, version_id, scan) -> RulebookVersion:
    """The scanned resolution may come after the vote: it documents the adoption, it does not
    change the rules, so a draft or the adopted version takes it (a retired one is history)."""
    version = _version(version_id)
    if version.status == RETIRED:
        raise Conflict(_("Version %(n)d is retired; its record cannot change.", n=version.number))
    stored = store_document(actor, scan, "scan")
    before = _version_snapshot(version)
    version.scan_file_id = stored.id
    record(actor, "rulebook_version.scan", version, before=before, after=_version_snapshot(version))
    return version


def version_in_force(day: date) -> RulebookVersion | None:
    """The township version in force on `day`: adopted on or before it and not retired by it."""
    return db.session.execute(
        select(RulebookVersion)
        .where(RulebookVersion.status.in_((ADOPTED, RETIRED)), RulebookVersion.adopted_on <= day,
               or_(RulebookVersion.retired_on.is_(None), RulebookVersion.retired_on > day))
        .order_by(RulebookVersion.adopted_on.desc())
    ).scalars().first()


# --- items ---------------------------------------------------------------------------------------

ITEM_FIELDS = ("category_id", "code", "title_zh", "title_en", "description", "direction", "points_min",
               "points_max", "points_default", "unit", "cap_points", "cap_period", "evidence_required",
               "initiator", "review", "sort_order")


def _item_snapshot(item: RuleItem) -> dict:
    return {k: iso(getattr(item, k)) if k == "category_id" else getattr(item, k) for k in ITEM_FIELDS}


def items_of(version_id) -> list[RuleItem]:
    """In reading order: by category order, then the item's own order."""
    return list(db.session.execute(
        select(RuleItem).join(RuleCategory, RuleCategory.id == RuleItem.category_id)
        .where(RuleItem.version_id == version_id)
        .order_by(RuleCategory.sort_order, RuleCategory.name_zh, RuleItem.sort_order, RuleItem.id)
    ).scalars())


@action("rulebook.view")
def version_items(actor: Actor, version_id) -> list[RuleItem]:
    return items_of(get_version(actor, version_id).id)


def _check_item(data: dict, version: RulebookVersion, item: RuleItem | None = None) -> dict:
    """Every bad field named at once; points are magnitudes (> 0), `direction` gives the sign."""
    f = Fields(data)
    out = {"code": f.text("code", MAX_CODE), "title_zh": f.text("title_zh", MAX_TITLE, required=True),
           "title_en": f.text("title_en", MAX_TITLE), "description": f.text("description", MAX_DESCRIPTION)}
    category_id = f.uuid("category_id", _("Choose a category of this township."))
    category = tenant_get(RuleCategory, category_id) if category_id else None
    if category_id is None and not f.bad("category_id"):
        f.fail("category_id", _("Choose a category of this township."))
    elif category_id is not None and category is None:
        f.conflict("category_id", _("Choose a category of this township."))
    out["category_id"] = category.id if category else None
    out["direction"] = f.choice("direction", (AWARD, DEDUCTION))
    # each number alone is declared in the API document; how they relate is a conflict (409): on a
    # PATCH the others are the stored item's
    low = f.number("points_min", minimum=MIN_POINTS)
    high = f.number("points_max", required=False, minimum=MIN_POINTS)
    default = f.number("points_default", required=False, minimum=MIN_POINTS)
    if low is not None and not f.bad("points_max"):
        high = low if high is None else high
        if low > high:
            f.conflict("points_max", _("The highest points must be at least the lowest (%(n)d).", n=low))
        elif not f.bad("points_default"):
            default = low if default is None else default
            if not low <= default <= high:
                f.conflict("points_default", _("The usual points must lie between %(lo)d and %(hi)d.",
                                               lo=low, hi=high))
    out |= {"points_min": low, "points_max": high, "points_default": default}
    out["unit"] = f.choice("unit", UNITS, "occurrence")
    cap = f.number("cap_points", required=False, minimum=MIN_POINTS)
    period = data.get("cap_period") or None
    if period is not None and period not in CAP_PERIODS:
        f.fail("cap_period", _("Choose one of: %(options)s.", options=", ".join(CAP_PERIODS)))
    elif cap is not None and period is None:
        f.conflict("cap_period", _("Say per month or per year, or leave the cap empty."))
    elif period is not None and cap is None and not f.bad("cap_points"):
        f.conflict("cap_points", _("Enter the cap, or leave the period empty."))
    elif cap is not None and low is not None and cap < low:
        f.conflict("cap_points", _("A cap below the lowest points (%(n)d) could never be reached.", n=low))
    out |= {"cap_points": cap, "cap_period": period}
    out["evidence_required"] = f.flag("evidence_required")
    out["initiator"] = f.choice("initiator", INITIATORS, "household")
    out["review"] = f.choice("review", REVIEWS, "certification")
    out["sort_order"] = f.number("sort_order", required=False, minimum=MIN_ORDER)
    codes = {code: item_id for item_id, code in db.session.execute(
        select(RuleItem.id, RuleItem.code).where(RuleItem.version_id == version.id))}
    if out["code"] and codes.get(out["code"], item.id if item else None) != (item.id if item else None):
        f.conflict("code", _("Another item of this version already has this code."))
    f.check()
    if not out["code"]:
        out["code"] = item.code if item else _free_code(codes)
    if out["sort_order"] is None:
        out["sort_order"] = item.sort_order if item else max((i.sort_order for i in items_of(version.id)),
                                                             default=0) + 1
    return out


def _free_code(codes: dict) -> str:
    n = len(codes) + 1
    while f"R{n:03d}" in codes:
        n += 1
    return f"R{n:03d}"


@action("rulebook.manage")
def create_item(actor: Actor, version_id, data: dict) -> RuleItem:
    version = _draft(version_id)
    item = RuleItem(version_id=version.id, **_check_item(data, version))
    db.session.add(item)
    db.session.flush()
    record(actor, "rule_item.create", item, after=_item_snapshot(item))
    return item


def _draft_item(item_id) -> tuple[RuleItem, RulebookVersion]:
    item = tenant_get_or_404(RuleItem, item_id)
    return item, _draft(item.version_id)


@action("rulebook.view")
def get_item(actor: Actor, item_id) -> RuleItem:
    item = tenant_get_or_404(RuleItem, item_id)
    get_version(actor, item.version_id)  # an item of a draft is as hidden as the draft
    return item


@action("rulebook.manage")
def update_item(actor: Actor, item_id, data: dict) -> RuleItem:
    item, version = _draft_item(item_id)
    before = _item_snapshot(item)
    for k, v in _check_item(data, version, item).items():
        setattr(item, k, v)
    record(actor, "rule_item.update", item, before=before, after=_item_snapshot(item))
    return item


@action("rulebook.manage")
def delete_item(actor: Actor, item_id) -> None:
    item, _version_row = _draft_item(item_id)
    record(actor, "rule_item.delete", item, before=_item_snapshot(item))
    db.session.delete(item)
    db.session.flush()


@action("rulebook.manage")
def move_item(actor: Actor, item_id, up: bool) -> RuleItem:
    """One place up or down among the items of its category (the items are renumbered)."""
    item, version = _draft_item(item_id)
    items = [i for i in items_of(version.id) if i.category_id == item.category_id]
    at = items.index(item)
    to = at - 1 if up else at + 1
    if 0 <= to < len(items):
        before = {"sort_order": item.sort_order}
        items[at], items[to] = items[to], items[at]
        base = min(i.sort_order for i in items)
        for n, i in enumerate(items):
            i.sort_order = base + n
        record(actor, "rule_item.move", item, before=before, after={"sort_order": item.sort_order})
    return item

