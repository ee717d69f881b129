"""Checking roster rows against the township's data: every error by row and column, and the plan of
what the import creates and changes.

Everything the check needs is loaded up front in a handful of queries (villages, the grid, tags, the
active households of the villages named, their residents and tags, the ID numbers in use), so
35,000 rows cost no query per row. Keys: a household is (village, door plate) among active
households; a resident is their ID number when the sheet gives one (else a member of that household
with the same name and no ID number yet), else (household, name). Empty or masked (`*`) phone and
ID cells keep what is stored; tags and the note are set to what the sheet says.
"""
from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from jifen.platform import clock, sealed
from jifen.platform.db import db, new_id
from jifen.platform.tenancy import current_tenant_id
from jifen.tenants.households.models import ACTIVE, Household, HouseholdTag, Resident
from jifen.tenants.households.roster_excel import HEADERS, Row
from jifen.tenants.households.rules import (
    FieldError,
    clean_door_plate,
    clean_id_number,
    clean_name,
    clean_phone,
    clean_relation,
    mask_id_number,
    name_search_keys,
)
from jifen.tenants.households.service import all_tags
from jifen.tenants.villages.models import MICRO, GridNode, Village

TAG_SEPARATORS = re.compile(r"[、,，;；/\n]+")
GRID_SEPARATORS = re.compile(r"\s*[/／>]\s*")
MAX_NOTE = 500
COLUMN_ORDER = {header: i for i, header in enumerate(HEADERS.values())}


@dataclass
class TagLookup:
    codes: dict  # zh name, lower-case en name or code -> code
    names: dict  # code -> zh name

    @classmethod
    def load(cls) -> "TagLookup":
        """Built once per sheet from the household service's tags (built-in and the township's)."""
        codes, names = {}, {}
        for tag in all_tags():
            codes.update({tag.code.lower(): tag.code, tag.name_zh: tag.code, tag.name_en.lower(): tag.code})
            names[tag.code] = tag.name_zh
        return cls(codes, names)

    def parse(self, text: str) -> tuple[frozenset, list[str]]:
        """(tag codes, the words that are no tag)."""
        found, unknown = set(), []
        for word in (w.strip() for w in TAG_SEPARATORS.split(text)):
            if word:
                code = self.codes.get(word) or self.codes.get(word.lower())
                found.add(code) if code else unknown.append(word)
        return frozenset(found), unknown

    def text(self, codes) -> str:
        return "、".join(sorted(self.names.get(c, c) for c in codes))


class GridLookup:
    """The township's grid nodes by name and by path of names ("大/中/小/微")."""

    def __init__(self, village_names: dict):
        self.village_names = village_names
        self.nodes = {n.id: n for n in db.session.execute(
            select(GridNode.id, GridNode.name, GridNode.level, GridNode.village_id, GridNode.path,
                   GridNode.retired_at)).all()}
        self.by_name = defaultdict(list)
        self.names = {}  # id -> names from the root down
        self.labels = {}
        for node in self.nodes.values():
            self.by_name[node.name].append(node)
        for node_id, node in self.nodes.items():
            ids = [uuid.UUID(p) for p in node.path.strip("/").split("/") if p]
            self.names[node_id] = [self.nodes[i].name for i in ids if i in self.nodes] or [node.name]

    def path(self, node_id) -> str:
        return "/".join(self.names[node_id])

    def resolve(self, village_id, text: str):
        """The active micro node `text` names in the village, or raise FieldError saying why not."""
        parts = [p for p in GRID_SEPARATORS.split(text.strip()) if p]
        if not parts:
            raise FieldError(_("Enter the micro grid (微网格)."))
        found = [n for n in self.by_name.get(parts[-1], ()) if self.names[n.id][-len(parts):] == parts]
        here = [n for n in found if n.village_id in (village_id, None)]
        micro = [n for n in here if n.level == MICRO and n.retired_at is None]
        if len(micro) == 1:
            return micro[0]
        if micro:
            raise FieldError(_("Several micro grids of this village are called “%(name)s”; write the full path, "
                               "e.g. %(paths)s.", name=text, paths=" | ".join(self.path(n.id) for n in micro[:3])))
        if any(n.level == MICRO for n in here):
            raise FieldError(_("The grid “%(name)s” has been retired; choose a current micro grid.", name=text))
        if here:
            raise FieldError(_("“%(name)s” is not a micro grid (微网格); households sit on micro grids.", name=text))
        if found:
            raise FieldError(_("The grid “%(name)s” belongs to %(village)s, not to this row's village.", name=text,
                               village=self.village_names.get(found[0].village_id, "?")))
        raise FieldError(_("There is no grid “%(name)s” in this village.", name=text))

    def label(self, node_id) -> str:
        """What an export writes in 网格: the name, or the path where the name alone is ambiguous."""
        if node_id not in self.labels:
            node, label = self.nodes[node_id], self.path(node_id)
            try:
                if self.resolve(node.village_id, node.name).id == node_id:
                    label = node.name
            except FieldError:
                pass
            self.labels[node_id] = label
        return self.labels[node_id]

    def micro_labels(self, village_id) -> list[str]:
        return sorted(self.label(n.id) for n in self.nodes.values()
                      if n.village_id == village_id and n.level == MICRO and n.retired_at is None)


KEEP = object()  # an empty or masked phone / ID cell: keep what is stored


@dataclass
class Member:
    row: int
    name: str
    relation: str
    phone: object  # str, or KEEP
    id_number: object  # str, or KEEP
    masked_id: str = ""


@dataclass
class Plan:
    """What an import writes; `errors` empty means it may be applied."""

    errors: list = field(default_factory=list)
    households: list = field(default_factory=list)  # insert dicts
    residents: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    household_updates: list = field(default_factory=list)  # update-by-primary-key dicts
    resident_updates: list = field(default_factory=list)
    tag_deletes: list = field(default_factory=list)  # HouseholdTag ids
    events: list = field(default_factory=list)  # HouseholdEvent "created" of new households
    rows_of: dict = field(default_factory=dict)  # household id -> its sheet rows, for households written
    owner: dict = field(default_factory=dict)  # resident-update / tag-delete id -> its household id
    counts: dict = field(default_factory=lambda: dict.fromkeys(
        ("households_created", "households_updated", "households_unchanged",
         "residents_created", "residents_updated", "residents_unchanged"), 0))

    def error(self, row, key, message) -> None:
        self.errors.append({"row": row, "column": HEADERS.get(key), "message": message})

    def add_search_keys(self) -> None:
        """Pinyin of new and renamed names, computed only when the plan is written (a preview needs
        none, and it is most of the check's time), once per distinct name."""
        keys: dict = {}
        for rows, name, pinyin, initials in ((self.households, "head_name", "head_pinyin", "head_initials"),
                                             (self.household_updates, "head_name", "head_pinyin", "head_initials"),
                                             (self.residents, "name", "name_pinyin", "name_initials"),
                                             (self.resident_updates, "name", "name_pinyin", "name_initials")):
            for row in rows:
                if name in row:
                    if row[name] not in keys:
                        keys[row[name]] = name_search_keys(row[name])
                    row[pinyin], row[initials] = keys[row[name]]

    def chunks(self, households: int) -> list["Plan"]:
        """The plan split into parts of `households` households each, every household whole in one
        part (so a part written alone leaves each household complete), in the plan's order."""
        order = list(self.rows_of)
        part_of = {h: i // households for i, h in enumerate(order)}
        parts = [Plan() for _i in range((len(order) + households - 1) // households)]
        for name, key in (("households", "id"), ("residents", "household_id"), ("tags", "household_id"),
                          ("events", "household_id"), ("household_updates", "id")):
            for row in getattr(self, name):
                getattr(parts[part_of[row[key]]], name).append(row)
        for row in self.resident_updates:
            parts[part_of[self.owner[row["id"]]]].resident_updates.append(row)
        for tag_id in self.tag_deletes:
            parts[part_of[self.owner[tag_id]]].tag_deletes.append(tag_id)
        for h in order:
            parts[part_of[h]].rows_of[h] = self.rows_of[h]
        return parts

    @property
    def changes(self) -> int:
        c = self.counts
        return c["households_created"] + c["households_updated"] + c["residents_created"] + c["residents_updated"]


@dataclass(frozen=True)
class CurrentResident:
    """A current resident as the checks compare it, its ID number unsealed."""
    id: uuid.UUID
    household_id: uuid.UUID
    name: str
    relation: str
    phone: str | None
    id_number: str | None
    sort_order: int


@dataclass
class Existing:
    """The township's data the rows are checked against (the villages the rows name)."""

    households: dict  # (village_id, door plate) -> row
    residents: dict  # household id -> [rows]
    tags: dict  # household id -> {tag code: HouseholdTag id}
    id_owners: dict  # ID number's keyed hash -> household id, over the whole township's current residents

    @classmethod
    def load(cls, village_ids: set) -> "Existing":
        active = (Household.status == ACTIVE, Household.village_id.in_(village_ids))
        households = {(h.village_id, h.door_plate): h for h in db.session.execute(
            select(Household.id, Household.village_id, Household.door_plate, Household.grid_node_id,
                   Household.note, Household.head_name).where(*active)).all()}
        residents = defaultdict(list)
        for r in db.session.execute(
                select(Resident.id, Resident.household_id, Resident.name, Resident.relation, Resident.phone,
                       Resident.id_number_sealed, Resident.sort_order)
                .join(Household, Household.id == Resident.household_id)
                .where(*active, Resident.left_on.is_(None)).order_by(Resident.sort_order)).all():
            residents[r.household_id].append(CurrentResident(r.id, r.household_id, r.name, r.relation, r.phone,
                                                             sealed.unseal(r.id_number_sealed), r.sort_order))
        tags = defaultdict(dict)
        for t in db.session.execute(select(HouseholdTag.id, HouseholdTag.household_id, HouseholdTag.tag)
                                    .join(Household, Household.id == HouseholdTag.household_id)
                                    .where(*active)).all():
            tags[t.household_id][t.tag] = t.id
        owners = dict(db.session.execute(select(Resident.id_number_hmac, Resident.household_id).where(
            Resident.id_number_hmac.is_not(None), Resident.left_on.is_(None))).all())
        return cls(households, residents, tags, owners)


def _clean(plan: Plan, row: int, key: str, fn, value):
    try:
        return fn(value)
    except FieldError as e:
        plan.error(row, key, str(e))
        return None


def _masked(text: str) -> bool:
    return "*" in text


class Checker:
    """One check of a set of rows. `village`: the village chosen on upload (rows may leave 村 empty,
    and may not name another). `allowed`: village ids the actor may import into (None: all).
    `preview`: only the errors and the counts are wanted (the upload's check): new households are
    counted, not built (ids, residents, tags and events the preview would throw away); the
    rows' cleaned cells are kept in `cleaned` for staging. `cleaned_rows`: the rows are such cells,
    staged by a check they passed: the rules on a cell's text alone are not run again (they would
    give the same answer), everything looked up in the database is (village, grid, tags, scope,
    households, ID numbers in use)."""

    def __init__(self, village: Village | None, allowed: set | None, actor_id=None, actor_name="",
                 import_id=None, today: date | None = None, preview: bool = False, cleaned_rows: bool = False):
        self.village, self.allowed, self.preview, self.cleaned_rows = village, allowed, preview, cleaned_rows
        self.cleaned: list[Row] = []
        self.actor_id, self.actor_name, self.import_id = actor_id, actor_name, import_id
        self.today = today or clock.now().date()
        self.tenant_id, self.now = current_tenant_id(), clock.now()  # once per sheet, not per row
        villages = db.session.execute(select(Village)).scalars().all()
        self.villages_by_word = {v.name: v for v in villages} | {v.code: v for v in villages}
        self.village_names = {v.id: v.name for v in villages}
        self.grid = GridLookup(self.village_names)
        self.tags = TagLookup.load()
        self.plan = Plan()

    # --- one row ----------------------------------------------------------------------------
    def _village(self, row: Row):
        text = row.cells["village"]
        if not text:
            if self.village is None:
                self.plan.error(row.number, "village", _("Enter the village (村)."))
            return self.village
        village = self.villages_by_word.get(text)
        if village is None:
            self.plan.error(row.number, "village", _("There is no village “%(name)s” in this township.", name=text))
        elif self.village is not None and village.id != self.village.id:
            self.plan.error(row.number, "village", _("This file is imported into %(chosen)s; this row is for "
                                                     "%(name)s.", chosen=self.village.name, name=village.name))
        elif self.allowed is not None and village.id not in self.allowed:
            self.plan.error(row.number, "village", _("You may import only into your own villages; “%(name)s” "
                                                     "is not one of them.", name=village.name))
        else:
            return village
        return None

    def _id_number(self, row: Row):
        text = row.cells["id_number"]
        if not text or _masked(text):
            return KEEP
        try:
            return clean_id_number(text)
        except FieldError as e:
            message = str(e)
            if row.numeric_id:
                message = _("Excel stored this ID number as a number and dropped its last digits. Format the "
                            "身份证号 column as text and type the number again.")
            self.plan.error(row.number, "id_number", message)
            return None

    def _text_cells(self, row: Row) -> tuple:
        """(door plate, name, relation, phone, ID number) cleaned, None where a rule refused the cell."""
        c, n = row.cells, row.number
        if self.cleaned_rows:
            return (c["door_plate"], c["name"], c["relation"],
                    KEEP if not c["phone"] or _masked(c["phone"]) else c["phone"],
                    KEEP if not c["id_number"] or _masked(c["id_number"]) else c["id_number"])
        door_plate = _clean(self.plan, n, "door_plate", clean_door_plate, c["door_plate"])
        name = _clean(self.plan, n, "name", clean_name, c["name"])
        relation = None
        if c["relation"]:
            relation = _clean(self.plan, n, "relation", clean_relation, c["relation"])
        else:
            self.plan.error(n, "relation", _("Enter the relation to the household head (e.g. 户主, 配偶, 子)."))
        phone = KEEP if not c["phone"] or _masked(c["phone"]) else _clean(self.plan, n, "phone", clean_phone,
                                                                          c["phone"])
        id_number = self._id_number(row)
        if self.preview:  # each cleaned value is its own cleaned value: a later check finds the same
            self.cleaned.append(Row(n, c | {
                "door_plate": door_plate, "name": name, "relation": relation,
                "phone": c["phone"] if phone is KEEP else phone or "",
                "id_number": c["id_number"] if id_number is KEEP else id_number or ""}, row.numeric_id))
        return door_plate, name, relation, phone, id_number

    def _row(self, row: Row) -> dict | None:
        c = row.cells
        n = row.number
        village = self._village(row)
        door_plate, name, relation, phone, id_number = self._text_cells(row)
        grid = None
        if village is not None and c["grid"]:
            grid = _clean(self.plan, n, "grid", lambda t: self.grid.resolve(village.id, t), c["grid"])
        tags = None
        if c["tags"]:
            tags, unknown = self.tags.parse(c["tags"])
            if unknown:
                self.plan.error(n, "tags", _("Unknown household tag “%(tag)s”; the tags are: %(names)s.",
                                             tag="、".join(unknown), names=self.tags.text(self.tags.names)))
        if len(c["note"]) > MAX_NOTE:
            self.plan.error(n, "note", _("A note has at most %(n)d characters.", n=MAX_NOTE))
        if village is None or door_plate is None or name is None or relation is None:
            return None
        return {"key": (village.id, door_plate), "grid": grid, "grid_given": bool(c["grid"]), "tags": tags,
                "note": c["note"] or None,
                "member": Member(n, name, relation, phone, id_number,
                                 c["id_number"] if _masked(c["id_number"]) else "")}

    # --- the whole sheet --------------------------------------------------------------------
    def check(self, rows: list[Row]) -> Plan:
        groups: dict[tuple, list] = defaultdict(list)
        for row in rows:
            cleaned = self._row(row)
            if cleaned is not None:
                groups[cleaned["key"]].append(cleaned)
        existing = Existing.load({key[0] for key in groups})
        self._duplicate_ids(groups, existing)
        for key, members in groups.items():
            self._household(key, members, existing)
        self.plan.errors.sort(key=lambda e: (e["row"] or 0, COLUMN_ORDER.get(e["column"], -1)))
        return self.plan

    def _duplicate_ids(self, groups: dict, existing: Existing) -> None:
        seen: dict[str, int] = {}
        other_households = {}
        for key, members in groups.items():
            here = existing.households.get(key)
            for m in (c["member"] for c in members):
                if m.id_number in (None, KEEP):
                    continue
                if m.id_number in seen:
                    self.plan.error(m.row, "id_number", _("The same ID number is on row %(row)d.", row=seen[m.id_number]))
                    continue
                seen[m.id_number] = m.row
                owner = existing.id_owners.get(sealed.blind(m.id_number))
                if owner is not None and (here is None or owner != here.id):
                    other_households[m.row] = owner
        if other_households:
            plates = {h.id: (h.door_plate, h.village_id) for h in db.session.execute(
                select(Household.id, Household.door_plate, Household.village_id)
                .where(Household.id.in_(set(other_households.values())))).all()}
            for row, owner in other_households.items():
                plate, village_id = plates.get(owner, ("?", None))
                self.plan.error(row, "id_number", _("This ID number belongs to a current member of another "
                                                    "household (%(village)s %(plate)s).", plate=plate,
                                                    village=self.village_names.get(village_id, "")))

    def _agreed(self, members: list, field_name: str, given, label):
        """The household-level value (grid, tags, note) that the household's rows agree on."""
        value, first = None, None
        for c in members:
            if not given(c):
                continue
            if first is None:
                value, first = c[field_name], c["member"].row
            elif c[field_name] != value:
                self.plan.error(c["member"].row, label, _("Differs from row %(row)d of the same household; write "
                                                          "it the same way on every row (or only on one).", row=first))
        return value

    def _household(self, key: tuple, members: list, existing: Existing) -> None:
        plan = self.plan
        first = members[0]["member"].row
        grid = self._agreed(members, "grid", lambda c: c["grid"] is not None, "grid")
        if not any(c["grid_given"] for c in members):
            plan.error(first, "grid", _("Enter the micro grid (微网格) on at least one row of the household."))
        tags = self._agreed(members, "tags", lambda c: c["tags"] is not None, "tags") or frozenset()
        note = self._agreed(members, "note", lambda c: c["note"] is not None, "note") or ""
        heads = [c["member"] for c in members if c["member"].relation == "head"]
        if not heads:
            plan.error(first, "relation", _("The household at %(plate)s has no head: mark one member 户主.",
                                            plate=key[1]))
        for extra in heads[1:]:
            plan.error(extra.row, "relation", _("The household at %(plate)s already has a head (户主) on row %(row)d; "
                                                "rows with the same village and door plate form one household, "
                                                "with one head.", plate=key[1], row=heads[0].row))
        seen_names: dict[tuple, int] = {}
        for m in (c["member"] for c in members):
            if m.id_number in (None, KEEP):
                name_key = (m.name, m.masked_id)
                if name_key in seen_names:
                    plan.error(m.row, "name", _("%(name)s is on row %(row)d of this household too; give both their ID "
                                                "numbers to tell them apart.", name=m.name, row=seen_names[name_key]))
                seen_names[name_key] = m.row
        if len(heads) != 1:
            return
        household = existing.households.get(key)
        if household is None:
            self._new_household(key, grid, tags, note, heads[0], [c["member"] for c in members])
        else:
            self._update_household(household, grid, tags, note, heads[0], [c["member"] for c in members], existing)

    # --- the plan ---------------------------------------------------------------------------
    def _resident(self, household_id, m: Member, order: int) -> dict:
        return {"id": new_id(), "tenant_id": self.tenant_id, "household_id": household_id, "name": m.name,
                "relation": m.relation,
                "phone": None if m.phone is KEEP else m.phone,
                "id_number": None if m.id_number is KEEP else m.id_number, "sort_order": order, "left_on": None,
                "created_at": self.now}

    def _new_household(self, key, grid, tags, note, head: Member, members: list[Member]) -> None:
        plan, tenant_id, now = self.plan, self.tenant_id, self.now
        plan.counts["households_created"] += 1
        plan.counts["residents_created"] += len(members)
        if self.preview:
            return
        household_id = new_id()
        plan.households.append({"id": household_id, "tenant_id": tenant_id, "village_id": key[0],
                                "grid_node_id": grid.id if grid else None, "door_plate": key[1], "head_name": head.name,
                                "status": ACTIVE, "merged_into_id": None, "note": note, "created_at": now,
                                "updated_at": now})
        plan.residents += [self._resident(household_id, m, i) for i, m in enumerate(members)]
        plan.tags += [{"id": new_id(), "tenant_id": tenant_id, "household_id": household_id, "tag": t}
                      for t in sorted(tags)]
        plan.rows_of[household_id] = len(members)
        plan.events.append({"id": new_id(), "tenant_id": tenant_id, "household_id": household_id, "kind": "created",
                            "other_household_id": None,
                            "details": {"members": [m.name for m in members], "source": "roster_import",
                                        "import_id": self.import_id},
                            "actor_id": self.actor_id, "actor_name": self.actor_name, "happened_on": self.today,
                            "created_at": now})

    def _match(self, members: list[Member], current: list) -> dict:
        """row -> the current resident it stands for (each resident matched once)."""
        by_id = {r.id_number: r for r in current if r.id_number}
        matches, claimed = {}, set()
        for m in members:
            r = by_id.get(m.id_number) if isinstance(m.id_number, str) else None
            if r is not None:
                matches[m.row] = r
                claimed.add(r.id)
        for m in members:
            if m.row in matches:
                continue
            same = [r for r in current if r.name == m.name and r.id not in claimed
                    and (not isinstance(m.id_number, str) or r.id_number is None)]
            if m.masked_id:
                same.sort(key=lambda r: mask_id_number(r.id_number) != m.masked_id)
            if same:
                matches[m.row] = same[0]
                claimed.add(same[0].id)
        return matches

    def _update_household(self, household, grid, tags, note, head: Member, members: list[Member],
                          existing: Existing) -> None:
        plan, tenant_id = self.plan, self.tenant_id
        current = existing.residents.get(household.id, [])
        matches = self._match(members, current)
        claimed = {r.id for r in matches.values()}
        for r in current:
            if r.relation == "head" and r.id not in claimed:
                plan.error(head.row, "relation", _("The household's current head %(name)s is not in the sheet: add "
                                                   "a row for %(name)s with their relation now, or change the head "
                                                   "on the household's page first.", name=r.name))
                return
        order = max((r.sort_order for r in current), default=-1) + 1
        written = False
        for m in members:
            r = matches.get(m.row)
            if r is None:
                plan.residents.append(self._resident(household.id, m, order))
                order += 1
                plan.counts["residents_created"] += 1
                written = True
                continue
            change = {}
            if m.name != r.name:
                change["name"] = m.name
            if m.relation != r.relation:
                change["relation"] = m.relation
            if isinstance(m.phone, str) and m.phone != r.phone:
                change["phone"] = m.phone
            if isinstance(m.id_number, str) and m.id_number != r.id_number:
                change["id_number"] = m.id_number
            if change:
                plan.resident_updates.append({"tenant_id": tenant_id, "id": r.id, **change})
                plan.owner[r.id] = household.id
                written = True
            plan.counts["residents_updated" if change else "residents_unchanged"] += 1
        change = {}
        if grid is not None and grid.id != household.grid_node_id:
            change["grid_node_id"] = grid.id
        if note != household.note:
            change["note"] = note
        if head.name != household.head_name:
            change["head_name"] = head.name
        have = existing.tags.get(household.id, {})
        added, removed = set(tags) - set(have), set(have) - set(tags)
        plan.tags += [{"id": new_id(), "tenant_id": tenant_id, "household_id": household.id, "tag": t}
                      for t in sorted(added)]
        plan.tag_deletes += [have[t] for t in removed]
        plan.owner.update({have[t]: household.id for t in removed})
        if change:
            plan.household_updates.append({"tenant_id": tenant_id, "id": household.id, "updated_at": self.now,
                                           **change})
        if written or change or added or removed:
            plan.rows_of[household.id] = len(members)
        plan.counts["households_updated" if change or added or removed else "households_unchanged"] += 1
