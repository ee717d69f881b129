"""Demo points history: from January 1 of the current year to today, for the Longwo villages.

Everything goes through the real service functions (self-applications, proxy entries, staff
records, monthly sanitation batch sheets, verification, panel votes, public notices, objections,
the nightly posting job and ledger corrections). The services take the time from the platform's
clock, so the history is written as it happened: every event of the year is planned first (with a
fixed seed per village), then played in time order, each inside `clock.at(its moment)`.

The rhythm, every 14 days counted back from two days ago (the notice day C):
  C-3  the work team verifies what was submitted (a few rejected, a few adjusted)
  C-2  the panel votes (quorum 2; a few rejected)
  C-1  官田村 and 礼坑村's village admins publish their notices themselves
  C    the nightly job closes ended notices, posts them, and publishes the other villages' notices
  C+1  villagers object to an item now and then; C+2 the panel upholds or dismisses
  C+5  the nightly job closes the notices and posts their items
Applications arrive throughout. What happened in the last days is left where it stands, so every
state is present today: submitted, verified (some half voted), certified waiting for tonight's
notice, on notice (one notice open per village), one objection still open in 官田村.

Loading again changes nothing: when any application exists the whole points demo is skipped.
"""
from __future__ import annotations

import io
import random
import zlib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts import passwords
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import Conflict, Invalid
from jifen.platform.roles.authz import Actor
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import current_tenant, tenant_get
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.points import applications as apps
from jifen.tenants.points import entries, notices, posting
from jifen.tenants.points.models import APPLICATION_SOURCE, Application, LedgerTransaction, Notice, Objection
from jifen.tenants.points.workflow import CERTIFIED, ON_NOTICE, POSTED, SUBMITTED, VERIFIED
from jifen.tenants.rulebook.demo import ITEMS, VILLAGE_CHOICES
from jifen.tenants.villages.models import MICRO, GridNode

SEED = "jifen-demo-points-1"
CYCLE = 14  # days between notices
PANEL_NAMES = ["钟秀英", "曾庆华", "黄志强", "邱玉兰", "罗建平", "温桂香", "叶振东", "廖美娟", "赖国平", "古月娥",
               "刘建国", "朱金水", "谢春梅", "彭福生", "何素珍", "林德荣", "邓海涛", "蓝永春"]
GRID_NAMES = ["温志明", "叶国强", "罗海平", "邱建华", "钟立新", "曾伟东", "赖俊杰", "朱振华"]
# villager accounts per village (官田村 has more: its demo villager is villager-guantian-1)
VILLAGERS = {"官田村": 5}
VILLAGERS_DEFAULT = 2
DEMO_VILLAGER = "villager-guantian-1"  # a 官田村 household with a rich history
# ordinary applications per 14 days, apart from batch sheets
RATE = {"官田村": 14}
RATE_DEFAULT = 5
BATCH_EVERY = {"官田村": 1}  # months between sanitation inspections of a micro grid
BATCH_EVERY_DEFAULT = 3

# household items (self-application and proxy entry): code -> weight
HOUSEHOLD_ITEMS = {"HJ01": 10, "HJ03": 12, "HJ04": 5, "WM03": 1, "WM04": 6, "WM05": 0.5, "ZY02": 10, "ZY04": 2,
                   "DJ03": 2, "DJ04": 1, "TP01": 4, "TP02": 1, "TP03": 4, "TP04": 3, "ZF01": 0.5, "ZF02": 6,
                   "ZF03": 1, "YF01": 1, "YF02": 4}
# staff records: code -> weight
STAFF_ITEMS = {"HJ02": 8, "HJ05": 1, "HJ06": 2, "HJ07": 1.5, "HJ08": 1, "HJ09": 0.7, "WM01": 0.6, "WM02": 0.6,
               "WM06": 0.4, "WM07": 0.1, "ZY01": 4, "ZY03": 1.5, "ZY05": 3, "DJ01": 4, "DJ02": 4, "DJ05": 0.5,
               "TP05": 0.4, "ZF04": 0.2, "ZF05": 0.2, "ZF06": 0.3, "ZF07": 0.3, "YF03": 0.1, "YF04": 0.3,
               "YF05": 0.2}
SEASONS = {"YF02": (3, 4), "ZY03": (5, 6, 7, 8, 9), "ZF01": (3, 9), "WM03": (7, 8), "HJ09": (10, 11, 12, 1)}
DESCRIPTIONS = {
    "HJ01": ["门前屋后打扫干净，杂物归置整齐", "门前三包落实到位，无乱堆乱放", "房前空地清扫干净，花草修剪整齐"],
    "HJ02": ["参加村里组织的河道清理", "参加“清洁家园”集中整治行动", "参加村道两旁杂草清理"],
    "HJ03": ["按要求分类投放生活垃圾", "厨余垃圾单独投放到指定点", "可回收物分类投放"],
    "HJ04": ["在房前种植桂花树三棵", "庭院种花美化，新砌花坛一个", "屋后空地种上果树"],
    "HJ05": ["经村两委评议获评美丽庭院"],
    "HJ06": ["在村道旁乱堆建筑材料，劝导后仍未清理", "柴草堆放占用公共通道"],
    "HJ07": ["向河沟倾倒生活垃圾", "生活污水直排村道"],
    "HJ08": ["鸡鸭散养在村道，影响环境卫生", "生猪散放进入公共区域"],
    "HJ09": ["田间露天焚烧秸秆", "在屋后焚烧生活垃圾"],
    "WM01": ["长期照顾瘫痪在床的母亲，获村里表彰"],
    "WM02": ["家庭和睦、邻里称赞，获评最美家庭"],
    "WM03": ["儿子考上华南理工大学", "女儿考上广东工业大学", "孩子考上嘉应学院"],
    "WM04": ["帮助邻居抢收稻谷", "调解邻里宅基地纠纷", "帮独居老人修缮屋顶"],
    "WM05": ["下河救起落水儿童", "协助扑灭邻居家火情"],
    "WM06": ["与邻居争吵时动手打人"],
    "WM07": ["不履行赡养义务，经调解仍不改正"],
    "ZY01": ["党员带头参加村道清扫", "党员志愿服务：走访慰问独居老人", "党员参加防溺水宣传"],
    "ZY02": ["参加村志愿服务队清理河道", "参加敬老院志愿服务", "参加交通劝导志愿服务"],
    "ZY03": ["参加防汛值守", "台风期间协助转移群众", "参加卡口疫情防控值守"],
    "ZY04": ["在县中心血站无偿献血"],
    "ZY05": ["随宣传队入户宣传移风易俗", "参加防诈骗宣传劝导"],
    "DJ01": ["参加村民代表会议"],
    "DJ02": ["参加支部主题党日活动", "参加党员大会和党课学习"],
    "DJ03": ["建议在村口安装路灯，已被采纳", "提出修缮水圳的建议，村里采纳实施"],
    "DJ04": ["向村党支部递交入党申请书"],
    "DJ05": ["无故缺席支部主题党日"],
    "TP01": ["新种百香果三亩", "扩大养鸡规模至五百只", "新种茶叶两亩"],
    "TP02": ["合作社吸纳两户脱贫户务工", "带动脱贫户种植百香果增收"],
    "TP03": ["参加县里组织的电商技能培训", "参加茶叶种植技术培训", "参加电工技能培训"],
    "TP04": ["在县城工业园稳定务工", "在深圳稳定务工，提供务工证明"],
    "TP05": ["经镇里评选获评致富带头人"],
    "ZF01": ["儿子应征入伍"],
    "ZF02": ["全家按时缴纳城乡居民医保和养老保险"],
    "ZF03": ["举报非法采砂线索，经查属实"],
    "ZF04": ["参与赌博被派出所处理"],
    "ZF05": ["未经审批加建房屋"],
    "ZF06": ["在村口与人打架"],
    "ZF07": ["上山烧纸引发山火苗头"],
    "YF01": ["父亲丧事从简办理，不摆酒席", "婚事简办，节省的钱捐给村老人协会"],
    "YF02": ["清明祭扫不烧纸不放鞭炮", "用鲜花文明祭扫"],
    "YF03": ["女儿出嫁索要高价彩礼"],
    "YF04": ["乔迁宴席超标准大操大办"],
    "YF05": ["组织请神做法事"],
}
ADJUST_REASONS = ["核实后按实际情况调整分值", "现场查看规模较小，按下限计分", "经核实规模较大，适当加分"]
REJECT_REASONS = ["照片与申报内容不符", "经核实不属实", "同一事项本月已申报过", "不符合该条目的加分条件",
                  "提供的证明材料不全"]
PANEL_REJECT_REASONS = ["评议认为证据不足", "与村规民约条目不符", "经评议不予认定"]
OBJECTION_REASONS = ["他家门口其实还堆着杂物", "那天他并没有参加活动", "这件事不是他家做的", "照片是以前拍的",
                     "分数给高了"]
DISMISS_REASONS = ["经现场复核，情况属实", "有活动签到表为证", "核实后确认无误，维持原评定"]
UPHOLD_REASONS = ["经复核情况不属实，撤销加分", "异议成立，该事项不予计分"]
CORRECTION_REASONS = ["录入时分值填错，更正", "重复计分，撤销", "经复查，按条目标准更正分值"]


def _local(day: date, hour: float, tz: ZoneInfo) -> datetime:
    """A moment of the tenant's day, in UTC."""
    h, m = int(hour), int(round((hour - int(hour)) * 60)) % 60
    return datetime.combine(day, time(h, m), tzinfo=tz).astimezone(UTC)


def _photo_bytes() -> list[bytes]:
    from PIL import Image, ImageDraw
    out = []
    for n, colour in enumerate(PHOTO_COLOURS):
        img = Image.new("RGB", (160, 120), colour)
        draw = ImageDraw.Draw(img)
        draw.rectangle([20 + n * 10, 30, 90 + n * 10, 100], fill=(240, 235, 220))
        draw.ellipse([100, 15, 140, 55], fill=(250, 230, 120))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=70)
        out.append(buf.getvalue())
    return out


PHOTO_COLOURS = [(120, 160, 90), (170, 140, 100), (90, 130, 170), (150, 150, 150)]


def scene_photo(seed: str, n: int = 0) -> bytes:
    """A photo of its own for each application (shapes placed by `seed` on one of the palette's
    backgrounds): with the same few pictures everywhere, every pair of households would share a
    photo and the integrity signals (tenants/integrity) would flag them all. Pictures made from
    different seeds lie 10 or more bits apart in their perceptual hashes (600 checked)."""
    from PIL import Image, ImageDraw
    rng = random.Random(seed)
    img = Image.new("RGB", (160, 120), PHOTO_COLOURS[n % len(PHOTO_COLOURS)])
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(4, 7)):
        x, y = rng.randrange(0, 140), rng.randrange(0, 100)
        w, h = rng.randrange(15, 70), rng.randrange(15, 60)
        fill = tuple(rng.randrange(40, 250) for _ in range(3))
        (draw.ellipse if rng.random() < 0.4 else draw.rectangle)([x, y, x + w, y + h], fill=fill)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return buf.getvalue()


class Demo:
    def __init__(self, admin: Actor, villages: dict):
        self.admin = admin
        self.villages = villages  # name -> Village
        self.tz = clock.zone()
        self.system = Actor.system("notices job", current_tenant().id)
        self.photos = _photo_bytes()
        self.items = {code: (direction, low, high, photo, who, review)
                      for code, _c, _t, _e, direction, (low, high), _u, _cap, photo, who, review in ITEMS}
        self.stats = {"applications": 0, "batches": 0, "notices": 0, "objections": 0, "corrections": 0,
                      "skipped": 0}
        self.errors: list[str] = []
        self.events: list[tuple[datetime, int, object]] = []
        self.created: dict[int, object] = {}  # plan number -> application id
        self.withdrawn: set = set()  # villages where a self-application is withdrawn

    # --- people -----------------------------------------------------------------------------

    def people(self) -> None:
        pw = passwords.hash_password("Longwo-demo-2026")
        self.panel, self.workers, self.recorders, self.villagers, self.publisher = {}, {}, {}, {}, {}
        users = {u.username: u for u in db.session.execute(select(User)).scalars()}

        def account(username, name, role, scope_id, phone=None):
            user = users.get(username)
            if user is None:
                user, _secret = staff.invite(self.admin, {"username": username, "display_name": name,
                                                          "roles": [{"role": role, "scope_ids": [scope_id]}]})
                user.password_hash = pw
                users[username] = user
            return user

        names = iter(PANEL_NAMES)
        grid_names = iter(GRID_NAMES)
        for name, village in self.villages.items():
            code = village.code  # account names: panel-guantian-1, villager-guantian-1, grid-guantian
            panel = [account(f"panel-{code}-{n}", next(names, f"评议员{n}"), "panel_member", village.id)
                     for n in (1, 2)]
            if name == "官田村" and "chenfang" in users:
                panel.insert(0, users["chenfang"])
            large = db.session.execute(select(GridNode.id).where(GridNode.village_id == village.id,
                                                                 GridNode.level == 1,
                                                                 GridNode.retired_at.is_(None))).scalars().first()
            worker = users.get("liuqiang") if name == "官田村" and "liuqiang" in users else \
                account(f"grid-{code}", next(grid_names, f"网格员{code}"), "grid_worker", large)
            workers = [worker] + ([users["huangming"]] if name in ("官田村", "礼坑村") and "huangming" in users else [])
            admin_name = {"官田村": "liwei", "礼坑村": "zhanghua"}.get(name)
            db.session.flush()
            households = self.households[name]
            picks = sorted(households, key=lambda h: zlib.crc32(f"{SEED}:{h.id}".encode()))
            villagers = []
            for n, h in enumerate(picks[:VILLAGERS.get(name, VILLAGERS_DEFAULT)], start=1):
                villagers.append((account(f"villager-{code}-{n}", h.head_name or h.door_plate, "villager", h.id), h))
            db.session.commit()
            self.panel[name] = [actor_for(u) for u in panel]
            self.workers[name] = [actor_for(u) for u in workers]
            self.recorders[name] = self.workers[name] + ([actor_for(users[admin_name])] if admin_name in users else [])
            self.publisher[name] = actor_for(users[admin_name]) if admin_name in users else None
            self.villagers[name] = [(actor_for(u), h) for u, h in villagers]

    # --- planning ---------------------------------------------------------------------------

    def at(self, when: datetime, fn) -> None:
        self.events.append((when, len(self.events), fn))

    def plan(self, today: date, end: datetime) -> None:
        start = date(today.year, 1, 1)
        last = today - timedelta(days=2)
        cycles = []
        day = last
        while day >= start + timedelta(days=10):
            cycles.append(day)
            day -= timedelta(days=CYCLE)
        cycles.reverse()
        windows = list(zip([start] + cycles, cycles + [today + timedelta(days=1)], strict=True))
        for name in self.villages:
            rng = random.Random(f"{SEED}:{name}")
            self.plan_village(name, rng, windows, today)
        for n, c in enumerate(cycles):
            final = n == len(cycles) - 1
            for name in ("官田村", "礼坑村"):
                if name in self.villages and self.publisher.get(name):
                    self.at(_local(c - timedelta(days=1), 17, self.tz), self._publish(name))
            self.at(_local(c, 1.5, self.tz), self._nightly(c))
            self.at(_local(c + timedelta(days=5), 1.5, self.tz), self._nightly(c + timedelta(days=5)))
            for name in self.villages:
                rng = random.Random(f"{SEED}:{name}:{c}")
                chance = 0.6 if name == "官田村" else 0.3
                if final:
                    chance = 1.0 if name == "官田村" else 0.0
                if rng.random() < chance:
                    self.at(_local(c + timedelta(days=1), 11, self.tz), self._object(name, rng))
                    if not final:
                        self.at(_local(c + timedelta(days=2), 16, self.tz), self._decide(name, rng))
            if n % 2 == 1 or final:  # corrections: 官田村 about monthly, elsewhere now and then
                for name in self.villages:
                    rng = random.Random(f"{SEED}:correct:{name}:{c}")
                    if final or name == "官田村" or rng.random() < 0.25:
                        self.at(_local(c + timedelta(days=3), 10, self.tz), self._correct(name, rng))
        for c in cycles + [cycles[-1] + timedelta(days=CYCLE)] if cycles else []:
            for name in self.villages:
                rng = random.Random(f"{SEED}:sweep:{name}:{c}")
                self.at(_local(c - timedelta(days=3), 10, self.tz), self._verify_sweep(name, rng))
                self.at(_local(c - timedelta(days=2), 15, self.tz), self._vote_sweep(name, rng))
        # today: what the last days left behind
        yesterday = today - timedelta(days=1)
        for name in self.villages:
            rng = random.Random(f"{SEED}:final:{name}")
            households = self.households[name]
            for k, code in enumerate(("WM04", "ZF02", "WM04")):  # verified (or half voted) and certified tonight
                self.plan_app(name, rng, _local(yesterday, 9 + k / 2, self.tz), yesterday, "proxy",
                              rng.choice(households), code=code)
            for k in range(2):
                when = end - timedelta(minutes=30 - k)
                self.plan_app(name, rng, when, when.astimezone(self.tz).date(), "proxy",
                              rng.choice(households))
            self.at(_local(yesterday, 17, self.tz), self._verify_sweep(name, rng, before=_local(yesterday, 12, self.tz),
                                                                       reject=False))
            self.at(_local(yesterday, 18, self.tz), self._vote_sweep(name, rng, share=0.5))

    def plan_village(self, name: str, rng: random.Random, windows: list, today: date) -> None:
        households = self.households[name]
        active = rng.sample(households, k=max(1, len(households) * 2 // 3))
        rate = RATE.get(name, RATE_DEFAULT)
        for lo, hi in windows:
            days = (hi - lo).days
            for _n in range(round(rate * days / CYCLE)):
                occurred = lo + timedelta(days=rng.randrange(days))
                if occurred > today:
                    continue
                submitted = _local(occurred + timedelta(days=rng.choice([0, 0, 0, 1, 1, 2])), rng.uniform(8, 21),
                                   self.tz)
                roll = rng.random()
                if roll < 0.45:
                    self.plan_app(name, rng, submitted, occurred, "proxy", rng.choice(active))
                else:
                    self.plan_app(name, rng, submitted, occurred, "record", rng.choice(active))
            # self-applications by the households with accounts
            for actor, household in self.villagers[name]:
                for _n in range(rng.choice([0, 1, 1, 1] if name == "官田村" else [0, 0, 1])):
                    occurred = lo + timedelta(days=rng.randrange(days))
                    if occurred > today:
                        continue
                    when = _local(occurred, rng.uniform(12, 22), self.tz)
                    number = self.plan_app(name, rng, when, occurred, "self", household, actor=actor)
                    if rng.random() < 0.1 or name not in self.withdrawn:
                        self.withdrawn.add(name)
                        self.at(when + timedelta(hours=3), self._withdraw(actor, number))
        # the monthly sanitation inspection of a micro grid (batch sheet), on the 25th
        nodes = db.session.execute(select(GridNode).where(GridNode.village_id == self.villages[name].id,
                                                          GridNode.level == MICRO, GridNode.retired_at.is_(None))
                                   .order_by(GridNode.path)).scalars().all()
        every = BATCH_EVERY.get(name, BATCH_EVERY_DEFAULT)
        for month in range(1, today.month + 1):
            day = date(today.year, month, 25)
            if (month - 1) % every or day >= today - timedelta(days=1) or not nodes:
                continue
            node = nodes[(month - 1) // every % len(nodes)]
            self.at(_local(day, 16, self.tz), self._batch(name, node, day, rng))

    def plan_app(self, name, rng, when, occurred, kind, household, actor=None, code=None) -> int:
        disabled = {c for c, (on, _p) in VILLAGE_CHOICES.get(name, {}).items() if not on}
        pool = HOUSEHOLD_ITEMS if kind in ("self", "proxy") else STAFF_ITEMS
        codes = [c for c in pool if c not in disabled and occurred.month in SEASONS.get(c, range(1, 13))]
        code = code or rng.choices(codes, [pool[c] for c in codes])[0]
        direction, low, high, photo, _who, _review = self.items[code]
        own_choice = code in VILLAGE_CHOICES.get(name, {})
        points = rng.randint(low, high) if kind == "record" and not own_choice else None
        number = len(self.events)  # the index of the event about to be added
        data = {"item_code": code, "occurred_on": occurred, "description": rng.choice(DESCRIPTIONS[code]),
                "points": points}
        photo_n = rng.randrange(len(self.photos)) if photo else None
        by = actor or rng.choice(self.recorders[name] if kind == "record" else self.workers[name])

        def run():
            photos = [self._upload(photo_n, f"{name}-{number}")] if photo_n is not None else None
            if kind == "self":
                app = apps.self_apply(by, household.id, data, photos)
            elif kind == "proxy":
                app = apps.proxy_apply(by, household.id, data, photos)
            else:
                app = apps.record_conduct(by, household.id, data, photos)
            self.created[number] = app.id
            self.stats["applications"] += 1
        self.at(when, run)
        return number

    def _upload(self, n, seed: str | None = None):
        from werkzeug.datastructures import FileStorage
        data = scene_photo(seed, n) if seed is not None else self.photos[n]
        return FileStorage(io.BytesIO(data), filename="photo.jpg", content_type="image/jpeg")

    # --- events ----------------------------------------------------------------------------

    def _pending(self, name, state, before=None):
        query = select(Application).where(Application.village_id == self.villages[name].id,
                                          Application.state == state).order_by(Application.created_at, Application.id)
        if before is not None:
            query = query.where(Application.created_at <= before)
        return db.session.execute(query).scalars().all()

    def _withdraw(self, actor, number):
        def run():
            app_id = self.created.get(number)
            if app_id is not None and tenant_get(Application, app_id).state == SUBMITTED:
                apps.withdraw(actor, app_id)
        return run

    def _verify_sweep(self, name, rng, before=None, reject=True):
        def run():
            cutoff = before or clock.now() - timedelta(hours=12)
            for app in self._pending(name, SUBMITTED, cutoff):
                who = rng.choice(self.workers[name])
                if app.submitted_by == who.id:  # a proxy they entered: another of the work team checks it
                    # (separation of duties; in a village with one grid worker, the township admin)
                    who = next((w for w in self.workers[name] if w.id != who.id), self.admin)
                roll = rng.random()
                if roll < 0.05 and reject:
                    apps.reject(who, app.id, {"reason": rng.choice(REJECT_REASONS)})
                    continue
                _d, low, high, *_rest = self.items[app.item_code]
                if roll < 0.12 and low < high and abs(app.points) != low and \
                        app.item_code not in VILLAGE_CHOICES.get(name, {}):
                    apps.verify(who, app.id, {"points": low, "reason": ADJUST_REASONS[1]})
                else:
                    apps.verify(who, app.id)
        return run

    def _vote_sweep(self, name, rng, share=1.0):
        def run():
            pending = self._pending(name, VERIFIED)
            for n, app in enumerate(pending):
                panel = rng.sample(self.panel[name], len(self.panel[name]))
                if share < 1.0 and n % 2:
                    if n % 4 == 1:  # half voted: one approval so far
                        apps.vote(panel[0], app.id, {"decision": "approve"})
                    continue
                roll = rng.random()
                if roll < 0.04:
                    reason = rng.choice(PANEL_REJECT_REASONS)
                    for member in panel[:2]:
                        apps.vote(member, app.id, {"decision": "reject", "reason": reason})
                elif roll < 0.08 and len(panel) > 2:
                    apps.vote(panel[0], app.id, {"decision": "approve"})
                    apps.vote(panel[1], app.id, {"decision": "reject", "reason": rng.choice(PANEL_REJECT_REASONS)})
                    apps.vote(panel[2], app.id, {"decision": "approve"})
                else:
                    for member in panel[:2]:
                        apps.vote(member, app.id, {"decision": "approve"})
        return run

    def _publish(self, name):
        def run():
            if self._pending(name, CERTIFIED):
                notices.publish(self.publisher[name], self.villages[name].id)
        return run

    def _nightly(self, day):
        def run():
            posting.nightly(self.system, today=day)
        return run

    def _open_notice(self, name):
        return db.session.execute(select(Notice).where(Notice.village_id == self.villages[name].id,
                                                       Notice.status == Notice.OPEN)
                                  .order_by(Notice.opens_on.desc())).scalars().first()

    def _object(self, name, rng):
        def run():
            notice = self._open_notice(name)
            if notice is None or not notices.is_open(notice) or not self.villagers[name]:
                return
            actor, household = rng.choice(self.villagers[name])
            items = [a for a in db.session.execute(select(Application).where(
                Application.notice_id == notice.id, Application.state == ON_NOTICE,
                Application.household_id != household.id).order_by(Application.id)).scalars()]
            if items:
                notices.object_to(actor, rng.choice(items).id, {"reason": rng.choice(OBJECTION_REASONS)})
        return run

    def _decide(self, name, rng):
        def run():
            village_apps = select(Application.id).where(Application.village_id == self.villages[name].id)
            for objection in db.session.execute(select(Objection).where(
                    Objection.status == Objection.OPEN, Objection.application_id.in_(village_apps))
                    .order_by(Objection.created_at)).scalars().all():
                member = rng.choice(self.panel[name])
                if rng.random() < 0.35:
                    notices.decide(member, objection.id, {"decision": "uphold", "reason": rng.choice(UPHOLD_REASONS)})
                else:
                    notices.decide(member, objection.id, {"decision": "dismiss",
                                                          "reason": rng.choice(DISMISS_REASONS)})
        return run

    def _correct(self, name, rng):
        def run():
            corrected = select(LedgerTransaction.reverses_id).where(LedgerTransaction.reverses_id.is_not(None))
            candidates = db.session.execute(
                select(LedgerTransaction).join(Application, Application.id == LedgerTransaction.source_id)
                .where(LedgerTransaction.source_kind == APPLICATION_SOURCE,
                       Application.village_id == self.villages[name].id, Application.state == POSTED,
                       LedgerTransaction.points > 0, LedgerTransaction.id.not_in(corrected))
                .order_by(LedgerTransaction.created_at.desc(), LedgerTransaction.id).limit(40)).scalars().all()
            if not candidates:
                return
            tx = rng.choice(candidates)
            _d, low, high, *_rest = self.items.get(tx.item_code, (None, 0, 0))
            if low < high and tx.points > low:
                new, reason = low, CORRECTION_REASONS[2]
            else:
                new, reason = 0, CORRECTION_REASONS[1]
            entries.correct_entry(self.admin, tx.id, {"points": new, "reason": reason})
            self.stats["corrections"] += 1
        return run

    def _batch(self, name, node, day, rng):
        def run():
            households = [h for h in self.households[name] if h.grid_node_id == node.id]
            if not households:
                return
            rows = [{"household_id": h.id, "points": "" if rng.random() < 0.15 else 2,
                     "note": ""} for h in households]
            if not any(r["points"] for r in rows):
                rows[0]["points"] = 2
            batch = apps.record_batch(self.workers[name][0], {
                "title": f"{day.month}月门前三包卫生检查（{node.name}）", "item_code": "HJ01",
                "occurred_on": day, "grid_node_id": node.id, "rows": rows})
            self.stats["batches"] += 1
            self.stats["applications"] += batch.row_count
        return run

    # --- playing -----------------------------------------------------------------------------

    def play(self, end: datetime) -> None:
        events = sorted((e for e in self.events if e[0] <= end), key=lambda e: (e[0], e[1]))
        for when, _n, fn in events:
            try:
                with clock.at(when):
                    fn()
            except (Invalid, Conflict) as e:  # a step the rules refuse: note it, go on
                db.session.rollback()
                self.stats["skipped"] += 1
                self.errors.append(f"{when:%Y-%m-%d %H:%M}: {e} {getattr(e, 'errors', '')}")


def load_demo(admin_actor: Actor, villages: dict, today: date | None = None) -> dict | None:
    """A year of points history for `villages` ({name: Village}), ending today. Returns counts, or
    None when points already exist (nothing is added then)."""
    if db.session.execute(select(func.count()).select_from(Application)).scalar_one():
        return None
    today = today or clock.today()
    end = clock.now() - timedelta(minutes=10)
    db.session.commit()
    fast = _fast_commits(True)
    try:
        stats = _load(admin_actor, villages, today, end)
    finally:
        _fast_commits(fast)
    return stats


def _fast_commits(on):
    """Thousands of small commits: don't wait for the disk on each (a demo can be loaded again).
    Returns what to pass to restore the previous setting."""
    conn = db.session.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        before = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        conn.exec_driver_sql(f"PRAGMA synchronous={0 if on is True else int(on)}")
    elif dialect == "postgresql":
        before = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        conn.exec_driver_sql("SET synchronous_commit TO " + ("off" if on is True else str(on)))
    else:
        return None
    db.session.commit()
    return before


def _load(admin_actor, villages, today, end) -> dict:
    demo = Demo(admin_actor, villages)
    demo.households = {name: db.session.execute(
        select(Household).where(Household.village_id == v.id, Household.status == ACTIVE)
        .order_by(Household.door_plate, Household.id)).scalars().all() for name, v in villages.items()}
    demo.people()
    demo.plan(today, end)
    demo.play(end)
    db.session.commit()
    demo.stats["notices"] = db.session.execute(select(func.count()).select_from(Notice)).scalar_one()
    demo.stats["objections"] = db.session.execute(select(func.count()).select_from(Objection)).scalar_one()
    demo.stats["errors"] = demo.errors
    return demo.stats
