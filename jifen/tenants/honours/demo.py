"""Demo data: star ratings, honour titles and the honour wall for Longwo.

Through the services: the star levels and vetoes, this year's ratings (the nightly job's body),
最美家庭 and 最美党员户 with shortlists in 官田村, 礼坑村 and 梅园村 partly confirmed by each village's
panel member panel-<code>-1, three recommendation lists, and every village's honour wall link.
Loading twice adds nothing: each thing is looked up first."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import current_tenant
from jifen.tenants.honours import recommendations, stars, titles, wall
from jifen.tenants.honours.models import (
    CONFIRMED,
    SHORTLISTED,
    HonourCandidate,
    HonourShortlist,
    HonourTitle,
    RecommendationList,
    StarRating,
)

# stars: (at least points, top % of the village) — the demo's households earn some 0–110 points a year
LEVELS = {1: (1, None), 2: (8, None), 3: (15, None), 4: (25, 20), 5: (40, 5)}
VETOES = {"ZF04": 0, "WM07": 0, "ZF06": 1, "WM06": 2, "ZF05": 2}  # 赌博, 不赡养老人, 打架斗殴, 辱骂他人, 违规建房
TITLES = [
    {"name_zh": "最美家庭", "name_en": "Most Beautiful Family", "quota": 5, "min_stars": 3, "no_veto": True,
     "sort_order": 1},
    {"name_zh": "最美党员户", "name_en": "Model Party-member Household", "quota": 3, "min_stars": 2,
     "required_tag": "party_member", "no_veto": True, "sort_order": 2},
]
LISTS = [
    {"name_zh": "村班子后备人选", "name_en": "Reserve candidates for the village committees", "min_stars": 2,
     "min_age": 25, "max_age": 50, "no_veto": True, "sort_order": 1,
     "note": "村“两委”换届前，从积分排名靠前、无一票否决扣分的家庭中物色后备人选，供村党组织参考。"},
    {"name_zh": "入党积极分子", "name_en": "Party activists", "min_points": 10, "min_age": 18, "max_age": 40,
     "no_veto": True, "sort_order": 2, "note": "供村党支部确定入党积极分子时参考。"},
    {"name_zh": "参军", "name_en": "Army enlistment", "min_age": 18, "max_age": 22, "no_veto": True, "sort_order": 3,
     "note": "适龄青年名单，供征兵宣传动员参考。"},
]
# village -> how many candidates of each shortlist its panel member confirms (the rest wait)
SHORTLIST_VILLAGES = {"官田村": 3, "礼坑村": 2, "梅园村": 0}
WALL_VILLAGE = "官田村"


def _panel(village) -> Actor | None:
    user = db.session.execute(select(User).where(User.username == f"panel-{village.code}-1")).scalar_one_or_none()
    return actor_for(user) if user is not None else None


def load_demo(admin_actor: Actor, villages: dict) -> str | None:
    if not stars.levels():
        stars.update_settings(admin_actor, {
            "levels": [{"stars": n, "min_points": p, "top_percent": t} for n, (p, t) in LEVELS.items()],
            "vetoes": [{"item_code": c, "max_stars": m} for c, m in VETOES.items() if c in stars.deduction_items()]})
        db.session.commit()
    today = clock.today()
    stars.nightly(today)  # what the 02:00 job does; rerunning changes nothing
    period = stars.periods_to_rate(today)[0]

    existing = {t.name_zh: t for t in db.session.execute(select(HonourTitle)).scalars()}
    for data in TITLES:
        if data["name_zh"] not in existing:
            existing[data["name_zh"]] = titles.create_title(admin_actor, data)
    have_lists = set(db.session.execute(select(RecommendationList.name_zh)).scalars())
    for data in LISTS:
        if data["name_zh"] not in have_lists:
            recommendations.create_list(admin_actor, data)
    db.session.commit()

    for name, confirm in SHORTLIST_VILLAGES.items():
        village = villages.get(name)
        if village is None:
            continue
        panel = _panel(village)
        for data in TITLES:
            title = existing[data["name_zh"]]
            drawn = db.session.execute(select(HonourShortlist.id).where(
                HonourShortlist.title_id == title.id, HonourShortlist.village_id == village.id,
                HonourShortlist.period == period)).scalar_one_or_none()
            if drawn is not None:
                continue
            shortlist = titles.draw_shortlist(admin_actor, title.id, village.id, period)
            if panel is not None:
                for candidate in titles.candidates_of(shortlist.id)[:confirm]:
                    titles.decide(panel, candidate.id, {"decision": "confirm"})
            db.session.commit()

    for village in villages.values():
        wall.create_link(admin_actor, village.id)
    db.session.commit()
    return _summary(villages, period)


def _summary(villages: dict, period: int) -> str:
    counts = Counter(db.session.execute(select(StarRating.stars).where(StarRating.period == period)).scalars())
    by_status = dict(db.session.execute(select(HonourCandidate.status, func.count()).where(
        HonourCandidate.period == period).group_by(HonourCandidate.status)).all())
    lists = db.session.execute(select(func.count()).select_from(RecommendationList)).scalar_one()
    token = wall.wall_of(villages[WALL_VILLAGE].id).public_token if WALL_VILLAGE in villages else ""
    slug = current_tenant().slug
    spread = ", ".join(f"{'★' * n} {counts.get(n, 0)}" for n in range(5, 0, -1))
    return (f"Stars and honours {period}: {sum(counts.values())} households rated ({spread}); 最美家庭 and 最美党员户 "
            f"shortlisted in {', '.join(SHORTLIST_VILLAGES)} ({by_status.get(CONFIRMED, 0)} confirmed by "
            f"panel-<village>-1, {by_status.get(SHORTLISTED, 0)} waiting); {lists} recommendation lists. "
            f"Honour wall of {WALL_VILLAGE} (public, no sign-in): /t/{slug}/honours/wall/{token} "
            f"(A4 poster: …/print).")
