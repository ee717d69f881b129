"""The honour wall in a real browser: a village with star ratings, a confirmed 最美家庭 and its
public link. Anyone (not signed in) reads it on a phone and as the A4 poster (print emulation);
the village admin finds the link and the print button on the honours page; a villager sees their
stars and the next-star hint on their household home.

The township is seeded in the live server's database by running this module
(`python -m tests.browser.test_honour_wall <slug>`), through the same services the tests use.
Assertions are on data (names, ranks, star counts, element ids), not on translated text.
"""
from __future__ import annotations

import re
import sys

import pytest

from tests.browser.steps import no_horizontal_scroll, ok, phone_context, run_seed, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "honourwall"
T = f"/t/{SLUG}"
VILLAGE = "官田村"
# head, points: 安明 tops the village and gets 最美家庭; 张三伟 (the villager) has 12 points
HOUSEHOLDS = [("安明", 96), ("白华", 88), ("曹军", 75), ("邓丽", 61), ("方强", 47), ("高峰", 33), ("韩梅", 25),
              ("蒋涛", 18), ("孔亮", 9), ("林芳", 4), ("马超", 2), ("倪红", 1)]


def seed(slug: str) -> str:
    """Build the township and return the wall's public token."""
    from types import SimpleNamespace

    from sqlalchemy import select

    from jifen import create_app
    from jifen.platform.accounts.models import Operator
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.db import db
    from jifen.platform.tenancy import tenant_scope
    from jifen.platform.townships.models import Tenant
    from jifen.tenants.honours import stars, titles, wall
    from tests.conftest import build_township
    from tests.honours_world import add_household, give, set_levels, who
    from tests.points_world import setup_points

    app = create_app()
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.username == "op")).scalar_one()
        township = build_township(actor_for(op), slug, "龙窝镇", [VILLAGE, "礼坑村"])
        db.session.commit()
        pw = setup_points(SimpleNamespace(a=township))
        with tenant_scope(db.session.get(Tenant, township.tenant_id)):
            for n, (name, points) in enumerate(HOUSEHOLDS):
                hid = add_household(pw.village, township.grid[-1], name, f"{20 + n}号",
                                    tags=("party_member",) if n % 3 == 0 else ())
                give(hid, points)
            give(pw.household, 12)
            admin = who("admin")
            set_levels(admin, {1: (1, None), 2: (10, None), 3: (30, None), 4: (50, 30), 5: (80, 10)},
                       vetoes={"D1": 1})
            title = titles.create_title(admin, {"name_zh": "最美家庭", "name_en": "Most Beautiful Family",
                                                "quota": 2, "min_stars": 3})
            party = titles.create_title(admin, {"name_zh": "最美党员户", "quota": 1, "required_tag": "party_member"})
            stars.recompute(admin)
            for t in (title, party):
                shortlist = titles.draw_shortlist(admin, t.id, pw.village)
                first = titles.candidates_of(shortlist.id)[0]
                titles.decide(who("panel1"), first.id, {"decision": "confirm"})
            token = wall.create_link(admin, pw.village).public_token
            db.session.commit()
    return token


def _seed(server_env) -> str:
    done = run_seed(server_env, "tests.browser.test_honour_wall", SLUG, timeout=180)
    return done.split()[-1]


def test_honour_wall_renders_on_a_phone_and_as_an_a4_poster(browser, live_server, server_env, shot):
    token = _seed(server_env)
    wall_url = f"{T}/honours/wall/{token}"

    # 1. anyone, not signed in, on a phone
    ctx = phone_context(browser, live_server)
    try:
        page = ctx.new_page()
        ok(page.goto(wall_url), page)
        assert page.url.endswith(wall_url), "no sign-in redirect: the wall is public"
        ranks = page.locator("ol.hw-top li")
        assert ranks.count() == 10
        first = ranks.first.inner_text()
        assert "安*" in first and "96" in first and "最美家庭" in first and "安明" not in first
        assert VILLAGE in page.locator(".hw-title").inner_text()
        titles = page.locator("#titles").inner_text()
        assert "最美家庭" in titles and "最美党员户" in titles
        # 14 households: top 10 % is ranks 1–2 (安明 96, 白华 88, both ≥ 80); 4 stars: ≥ 50 and ranks 1–4
        assert page.locator("#stars li[data-stars='5']").get_attribute("data-count") == "2"
        assert page.locator("#stars li[data-stars='4']").get_attribute("data-count") == "2"
        no_horizontal_scroll(page)
        shot(page, "honours-01-wall-phone")
        with page.expect_navigation():
            page.click("#print-link")
        assert "/print" in page.url
    finally:
        ctx.close()

    # 2. the A4 poster, as printed
    a4 = browser.new_context(viewport={"width": 794, "height": 1123}, locale="zh-CN", base_url=live_server)
    try:
        page = a4.new_page()
        ok(page.goto(f"{wall_url}/print"), page)
        page.emulate_media(media="print")
        assert page.locator("body.hw-print").count() == 1
        assert page.locator(".no-print").first.is_hidden(), "the print button does not print"
        assert page.locator("ol.hw-top li").count() == 10 and "安*" in page.locator("ol.hw-top").inner_text()
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.hw-title')).fontSize)")
        assert size >= 40, f"the poster's title is large type ({size}px)"
        assert page.locator(".hw-sign span").count() >= 1, "a line to sign and stamp"
        no_horizontal_scroll(page)
        shot(page, "honours-02-wall-a4-print")
        pdf = page.pdf(format="A4", print_background=True)
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
        assert pdf[:4] == b"%PDF" and pages == 1, f"the poster fits on one A4 page, not {pages}"
    finally:
        a4.close()

    # 3. the village admin: the honours page with the link and the print button
    ctx = phone_context(browser, live_server)
    try:
        page = ctx.new_page()
        ok(page.goto(f"{T}/login"), page)
        ok(sign_in(page, "vadmin", PASSWORD), page)
        ok(page.goto(f"{T}/honours/"), page)
        assert page.locator("#wall-link").get_attribute("href").endswith(wall_url)
        assert page.locator("#wall-print").get_attribute("href").startswith(f"{wall_url}/print")
        assert page.locator("#distribution li[data-stars='5']").get_attribute("data-count") == "2"
        no_horizontal_scroll(page)
        shot(page, "honours-03-staff-page")
    finally:
        ctx.close()

    # 4. the villager: stars and the next-star hint on the household home
    ctx = phone_context(browser, live_server)
    try:
        page = ctx.new_page()
        ok(page.goto(f"{T}/login"), page)
        ok(sign_in(page, "villager", PASSWORD), page)
        ok(page.goto(f"{T}/ledger/me"), page)
        card = page.locator("#stars")
        assert card.get_attribute("data-stars") == "2"  # 12 points: at least 10
        hint = page.locator("#next-star")
        assert (hint.get_attribute("data-stars"), hint.get_attribute("data-points")) == ("3", "18")
        no_horizontal_scroll(page)
        shot(page, "honours-04-household-stars")
    finally:
        ctx.close()


if __name__ == "__main__":
    print("seeded", seed(sys.argv[1]))
