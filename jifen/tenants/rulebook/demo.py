"""Demo rulebook: 龙窝镇乡村治理积分管理实施细则（试行）, adopted by the township and all nine villages,
and the commitment signatures of most households (when households exist).

Goes through the service functions; running it again changes nothing (each step looks for what
it would create first; the households that sign are picked by a hash of their id).
"""
from __future__ import annotations

import zlib
from datetime import date, timedelta

from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.rulebook import adoption, service, signing
from jifen.tenants.rulebook.models import CommitmentSignature, RulebookVersion, VillageRulebook

TITLE = "龙窝镇乡村治理积分管理实施细则（试行）"
ADOPTED_ON = date(2026, 1, 1)  # in force for the whole of 2026 (the points demo builds a year of history)
RESOLUTION = {"assembly_date": date(2025, 12, 18), "attendance": 45, "votes_for": 42, "votes_against": 1,
              "votes_abstain": 2, "adopted_on": ADOPTED_ON}
A, D = "award", "deduction"
H, S = "household", "staff"
C, V = "certification", "verification"

# code, category, title, English title, direction, points (min, max), unit, cap (points, period), photo, who, review
ITEMS = [
    ("HJ01", "人居环境", "门前三包保持整洁", "Keeping the frontage clean, green and orderly", A, (2, 2), "occurrence",
     (20, "month"), True, H, V),
    ("HJ02", "人居环境", "参加集中整治行动", "Joining a village clean-up campaign", A, (5, 5), "occurrence", None,
     False, S, V),
    ("HJ03", "人居环境", "垃圾分类投放", "Sorting household waste", A, (1, 1), "day", (20, "month"), True, H, V),
    ("HJ04", "人居环境", "房前屋后种花种树美化庭院", "Planting flowers and trees around the house", A, (3, 10),
     "occurrence", (30, "year"), True, H, C),
    ("HJ05", "人居环境", "获评“美丽庭院”", "Named a Beautiful Courtyard household", A, (20, 20), "occurrence",
     (20, "year"), False, S, C),
    ("HJ06", "人居环境", "乱堆乱放杂物", "Piling clutter in public spaces", D, (5, 5), "occurrence", None, True, S, V),
    ("HJ07", "人居环境", "乱倒垃圾污水", "Dumping rubbish or waste water", D, (5, 10), "occurrence", None, True, S, V),
    ("HJ08", "人居环境", "畜禽散养影响环境", "Letting poultry and livestock roam public spaces", D, (5, 5),
     "occurrence", None, True, S, V),
    ("HJ09", "人居环境", "露天焚烧秸秆垃圾", "Burning straw or rubbish in the open", D, (10, 10), "occurrence", None,
     True, S, V),
    ("WM01", "文明新风", "孝老爱亲获评表彰", "Commended for caring for elders and family", A, (30, 30), "occurrence",
     (30, "year"), False, S, C),
    ("WM02", "文明新风", "获评“最美家庭”", "Named a Most Beautiful Family", A, (30, 30), "occurrence", (30, "year"),
     False, S, C),
    ("WM03", "文明新风", "子女考上大学", "A child admitted to university", A, (20, 20), "occurrence", None, True, H, C),
    ("WM04", "文明新风", "邻里互助、化解矛盾纠纷", "Helping neighbours or settling a dispute", A, (2, 5), "occurrence",
     (20, "year"), False, H, C),
    ("WM05", "文明新风", "见义勇为", "Acting bravely to help others", A, (20, 50), "occurrence", None, True, H, C),
    ("WM06", "文明新风", "辱骂、殴打他人", "Abusing or assaulting others", D, (10, 30), "occurrence", None, False, S, C),
    ("WM07", "文明新风", "不赡养、虐待老人", "Neglecting or mistreating elderly parents", D, (30, 30), "occurrence",
     None, False, S, C),
    ("ZY01", "志愿服务", "党员志愿服务", "Party members' volunteer service", A, (3, 10), "occurrence", (40, "month"),
     True, S, V),
    ("ZY02", "志愿服务", "参加志愿服务活动", "Joining a volunteer activity", A, (3, 3), "occurrence", (30, "month"),
     True, H, V),
    ("ZY03", "志愿服务", "参与防汛抢险、疫情防控", "Helping in flood relief or epidemic control", A, (5, 20),
     "occurrence", None, True, S, C),
    ("ZY04", "志愿服务", "无偿献血", "Donating blood", A, (10, 10), "occurrence", (20, "year"), True, H, V),
    ("ZY05", "志愿服务", "参加“五支队伍”宣传劝导", "Campaigning with the village teams", A, (2, 2), "occurrence",
     (10, "month"), False, S, V),
    ("DJ01", "党建引领", "参加村民代表会议", "Attending the villagers' representative assembly", A, (2, 2),
     "occurrence", None, False, S, V),
    ("DJ02", "党建引领", "党员参加“三会一课”", "Party member attending branch meetings and classes", A, (2, 2),
     "occurrence", (10, "month"), False, S, V),
    ("DJ03", "党建引领", "提出合理化建议被采纳", "A suggestion adopted by the village", A, (5, 10), "occurrence",
     (20, "year"), False, H, C),
    ("DJ04", "党建引领", "递交入党申请书", "Applying to join the Party", A, (5, 5), "occurrence", (5, "year"), True,
     H, V),
    ("DJ05", "党建引领", "党员无故不参加组织生活", "Party member absent from branch life without reason", D, (5, 5),
     "occurrence", None, False, S, V),
    ("TP01", "脱贫致富", "发展种养产业", "Starting or expanding crops or livestock", A, (5, 20), "occurrence",
     (40, "year"), True, H, C),
    ("TP02", "脱贫致富", "带动脱贫户就业增收", "Helping poverty-alleviated households earn", A, (10, 30),
     "occurrence", (60, "year"), True, H, C),
    ("TP03", "脱贫致富", "参加技能培训", "Attending a skills training", A, (3, 3), "occurrence", (15, "year"), True,
     H, V),
    ("TP04", "脱贫致富", "脱贫劳动力稳定务工", "Poverty-alleviated worker in steady work", A, (5, 5), "month",
     (30, "year"), True, H, V),
    ("TP05", "脱贫致富", "获评致富带头人", "Named a local prosperity leader", A, (20, 20), "occurrence",
     (20, "year"), False, S, C),
    ("ZF01", "遵纪守法", "参军入伍", "Enlisting in the army", A, (50, 50), "occurrence", (50, "year"), True, H, C),
    ("ZF02", "遵纪守法", "按时缴纳医保、养老保险", "Paying medical and pension insurance on time", A, (5, 5),
     "occurrence", (5, "year"), True, H, V),
    ("ZF03", "遵纪守法", "举报违法线索经查属实", "Reporting an offence that proves true", A, (5, 10), "occurrence",
     None, False, H, C),
    ("ZF04", "遵纪守法", "赌博", "Gambling", D, (50, 50), "occurrence", None, False, S, C),
    ("ZF05", "遵纪守法", "违规建房", "Building without a permit", D, (50, 50), "occurrence", None, True, S, C),
    ("ZF06", "遵纪守法", "打架斗殴", "Fighting or brawling", D, (20, 50), "occurrence", None, False, S, C),
    ("ZF07", "遵纪守法", "野外违规用火", "Lighting fires in the hills", D, (20, 20), "occurrence", None, True, S, C),
    ("YF01", "移风易俗", "移风易俗简办婚丧", "Holding a simple wedding or funeral", A, (20, 20), "occurrence", None,
     True, H, C),
    ("YF02", "移风易俗", "文明祭扫", "Tomb-sweeping without burning", A, (2, 2), "occurrence", (2, "year"), False,
     H, V),
    ("YF03", "移风易俗", "索要高价彩礼", "Demanding an exorbitant bride price", D, (20, 50), "occurrence", None,
     False, S, C),
    ("YF04", "移风易俗", "大操大办婚丧喜庆", "Lavish weddings, funerals or banquets", D, (20, 20), "occurrence",
     None, False, S, C),
    ("YF05", "移风易俗", "搞封建迷信活动", "Superstitious practices", D, (10, 10), "occurrence", None, False, S, C),
]

# what some villages decide within the township's limits: item code -> (enabled, points)
VILLAGE_CHOICES = {
    "梅园村": {"HJ04": (True, 5)},
    "官田村": {"TP01": (True, 10), "TP02": (True, 20)},
    "竹径村": {"ZY01": (True, 5)},
    "琴口村": {"ZY04": (False, None)},
    "嶂下村": {"HJ08": (False, None), "WM04": (True, 3)},
}
WITNESSES = ["刘建国", "黄志强", "曾庆华", "钟伟明", "陈光辉"]


def load_demo(admin_actor: Actor, villages: dict) -> None:
    categories = {c.name_zh: c for c in service.list_categories(admin_actor)}
    if len(categories) < len(service.STANDARD_CATEGORIES):
        service.add_standard_categories(admin_actor)
        categories = {c.name_zh: c for c in service.list_categories(admin_actor)}
    version = db.session.execute(select(RulebookVersion).where(RulebookVersion.title == TITLE)).scalars().first()
    if version is None:
        version = _township_version(admin_actor, categories)
    for n, (name, village) in enumerate(villages.items()):
        vr = db.session.execute(select(VillageRulebook).where(VillageRulebook.village_id == village.id,
                                                              VillageRulebook.version_id == version.id)).scalar()
        if vr is None:
            vr = _village_adoption(admin_actor, village, name, n)
        if vr.status == "adopted":
            _signatures(admin_actor, vr, n)


def _township_version(actor: Actor, categories: dict) -> RulebookVersion:
    version = service.create_version(actor, {"title": TITLE})
    for order, (code, category, title, title_en, direction, (low, high), unit, cap, photo, who, review) in enumerate(
            ITEMS, start=1):
        service.create_item(actor, version.id, {
            "code": code, "category_id": categories[category].id, "title_zh": title, "title_en": title_en,
            "direction": direction, "points_min": low, "points_max": high, "points_default": low if low == high else
            (low + high) // 2, "unit": unit, "cap_points": cap[0] if cap else None,
            "cap_period": cap[1] if cap else None, "evidence_required": photo, "initiator": who, "review": review,
            "sort_order": order})
    return service.adopt_version(actor, version.id, RESOLUTION)


def _village_adoption(actor: Actor, village, name: str, n: int) -> VillageRulebook:
    vr = adoption.start_village_rulebook(actor, village.id)
    items = {e.item.code: e.item for e in adoption.village_items(actor, vr.id)}
    choices = VILLAGE_CHOICES.get(name, {})
    if choices:
        adoption.set_village_items(actor, vr.id, {str(items[code].id): {"enabled": on, "points": points}
                                                  for code, (on, points) in choices.items()})
    attendance = 36 + (n * 3) % 11
    return adoption.adopt_village_rulebook(actor, vr.id, {
        "assembly_date": date(2025, 12, 20) + timedelta(days=n), "attendance": attendance,
        "votes_for": attendance - 2, "votes_against": 1, "votes_abstain": 1, "adopted_on": ADOPTED_ON})


def _signatures(actor: Actor, vr: VillageRulebook, n: int) -> None:
    """About 85% of the village's active households sign, over the first two weeks after adoption."""
    signed = set(db.session.execute(select(CommitmentSignature.household_id).where(
        CommitmentSignature.village_rulebook_id == vr.id)).scalars())
    by_day: dict[date, list] = {}
    for h in db.session.execute(select(Household).where(Household.village_id == vr.village_id,
                                                        Household.status == ACTIVE)).scalars():
        mark = zlib.crc32(str(h.id).encode())
        if h.id not in signed and mark % 100 < 85:
            by_day.setdefault(ADOPTED_ON + timedelta(days=1 + mark % 14), []).append(h.id)
    for day, ids in sorted(by_day.items()):
        signing.record_signatures(actor, vr.id, ids, {"signed_on": day, "witness_name": WITNESSES[n % len(WITNESSES)]})
