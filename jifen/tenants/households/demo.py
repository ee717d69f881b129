"""Demo households for Longwo's villages: about 250 a village, plausible Hakka-area families.

Rows are generated with a fixed seed per village and go through the roster import (`import_rows`,
the same checks and bulk writes as an uploaded 花名册, without the file), so loading twice changes
nothing. Households sit on each village's micro grid nodes, which the grid demo creates first.
"""
from __future__ import annotations

import random

from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.tenants.households import roster
from jifen.tenants.households.roster_check import GridLookup
from jifen.tenants.households.rules import ID_CHECK, ID_WEIGHTS
from jifen.tenants.villages.models import MICRO, GridNode

SEED = "jifen-demo-households-1"
YEAR = 2026  # ages are counted from here, not from today, so every run makes the same people
AREA = "441622"  # 紫金县
SURNAMES = "黄黄黄陈陈陈李李张张刘刘钟钟曾曾叶叶温温古罗罗邱廖杨朱谢赖吴徐彭何林邓蓝缪"
MALE = "伟强军明华建国志文斌勇平辉俊杰海涛峰亮鹏宇浩东晨振家福贵荣祥发德林金水生永春安庆"
FEMALE = "芳丽秀英娟敏静燕霞玲萍红梅兰凤婷琴云莲珍桂香翠花娣妹玉素月"
HAMLETS = ["上屋", "下屋", "新屋", "老屋", "围龙", "塘背", "岭头", "坑尾", "石角", "水口", "田心", "排上"]
MOBILE = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
          "159", "177", "180", "182", "183", "186", "187", "188", "189", "199"]
SIZES = [1, 2, 3, 4, 5, 6]
SIZE_WEIGHTS = [8, 20, 22, 25, 15, 10]
TAGS = [("党员户", 0.08), ("脱贫户", 0.05), ("监测户", 0.02), ("低保户", 0.03), ("五保户", 0.01), ("军属", 0.02)]


class Family:
    """One generated household: members as (name, relation word, age, male, phone?)."""

    def __init__(self, rng: random.Random, ids: set):
        self.rng, self.ids, self.members, self.names = rng, ids, [], set()

    def name(self, surname: str, male: bool) -> str:
        chars = MALE if male else FEMALE
        while True:
            name = surname + self.rng.choice(chars) + self.rng.choice(chars)
            if name not in self.names and name[1] != name[2]:
                self.names.add(name)
                return name

    def id_number(self, age: int, male: bool) -> str:
        while True:
            birth = f"{YEAR - age}{self.rng.randint(1, 12):02d}{self.rng.randint(1, 28):02d}"
            body = f"{AREA}{birth}{self.rng.randint(0, 49):02d}{self.rng.randrange(1 if male else 0, 10, 2)}"
            number = body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]
            if number not in self.ids:
                self.ids.add(number)
                return number

    def add(self, surname: str, relation: str, age: int, male: bool, phone_chance: float) -> None:
        phone = self.rng.choice(MOBILE) + f"{self.rng.randrange(10 ** 8):08d}" if self.rng.random() < phone_chance else ""
        self.members.append((self.name(surname, male), relation, age, male, phone))

    def build(self, size: int) -> None:
        rng = self.rng
        surname = rng.choice(SURNAMES)
        head_male = rng.random() < 0.88
        head_age = rng.randint(32, 78)
        self.add(surname, "户主", head_age, head_male, 0.8)
        slots = size - 1
        if slots and rng.random() < 0.9:
            self.add(rng.choice(SURNAMES), "配偶", max(22, head_age + rng.randint(-5, 3)), not head_male, 0.5)
            slots -= 1
        if slots and head_age < 58 and rng.random() < 0.3:
            male = rng.random() < 0.3
            self.add(surname if male else rng.choice(SURNAMES), "父亲" if male else "母亲",
                     min(96, head_age + rng.randint(22, 32)), male, 0.2)
            slots -= 1
        sons = daughters = 0
        eldest_son_age = None
        while slots and head_age - 22 >= 1:
            male = rng.random() < 0.52
            age = max(1, head_age - rng.randint(22, 34))
            if male:
                sons += 1
                relation = ("长子", "次子", "儿子")[min(sons, 3) - 1]
                eldest_son_age = eldest_son_age or age
            else:
                daughters += 1
                relation = ("长女", "次女", "女儿")[min(daughters, 3) - 1]
            self.add(surname, relation, age, male, 0.4 if age >= 18 else 0)
            slots -= 1
            if eldest_son_age and eldest_son_age >= 24 and slots >= 2:
                self.add(rng.choice(SURNAMES), "儿媳", eldest_son_age + rng.randint(-3, 2), False, 0.4)
                slots -= 1
                while slots and eldest_son_age - 22 >= 1:
                    male = rng.random() < 0.5
                    self.add(surname, "孙子" if male else "孙女", max(1, eldest_son_age - rng.randint(22, 30)), male,
                             0)
                    slots -= 1
                break


def village_rows(village, nodes: list, grid: GridLookup, ids: set, count: int | None = None) -> list[dict]:
    """The roster rows of `count` generated households (default 223-300) of a village, on `nodes`."""
    rng = random.Random(f"{SEED}:{village.name}")
    count = count or rng.randint(223, 300)
    hamlets = rng.sample(HAMLETS, rng.randint(4, 7))
    numbers = dict.fromkeys(hamlets, 0)
    rows = []
    for i in range(count):
        hamlet = hamlets[i * len(hamlets) // count]
        numbers[hamlet] += rng.randint(1, 3)
        node = nodes[i * len(nodes) // count]
        family = Family(rng, ids)
        family.build(rng.choices(SIZES, SIZE_WEIGHTS)[0])
        tags = "、".join(name for name, share in TAGS if rng.random() < share)
        for name, relation, age, male, phone in family.members:
            rows.append({"village": village.name, "grid": grid.label(node.id),
                         "door_plate": f"{village.name}{hamlet}组{numbers[hamlet]}号", "name": name,
                         "relation": relation, "phone": phone, "id_number": family.id_number(age, male),
                         "tags": tags, "note": ""})
    return rows


def load_demo(admin_actor: Actor, villages: dict) -> dict:
    """Generate and import the households of `villages` ({name: Village}); returns the import's counts.
    Raises RuntimeError if a village has no micro grid node to put households on."""
    grid = GridLookup({v.id: v.name for v in villages.values()})
    ids: set = set()
    rows = []
    for name in sorted(villages):
        village = villages[name]
        nodes = db.session.execute(select(GridNode).where(GridNode.village_id == village.id,
                                                          GridNode.level == MICRO, GridNode.retired_at.is_(None))
                                   .order_by(GridNode.path)).scalars().all()
        if not nodes:
            raise RuntimeError(f"{name} has no micro grid node: load the grid demo before the households demo.")
        rows += village_rows(village, nodes, grid, ids)
    return roster.import_rows(admin_actor, rows)
