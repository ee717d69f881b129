"""Star ratings: levels by points and by top percentage, ties at a threshold, vetoes and their
correction, the next-star hint, the nightly job (run twice: same rows), past periods, scope; the
public honour wall (masked and full names, the A4 poster, another township's link)."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.errors import Forbidden, Invalid, NotFound
from jifen.platform.jobs.models import JobRun
from jifen.tenants.honours import stars, wall
from jifen.tenants.honours.models import StarRating
from jifen.tenants.points import ledger
from jifen.tenants.points.models import LedgerTransaction
from jifen.workers import honour_jobs
from tests.conftest import api_token, bearer, csrf_token, page_login
from tests.honours_world import NAMES, add_household, give, in_tenant, micro_node, set_levels, who

PAGES = "/t/alpha/honours"
API = "/api/v1/t/alpha/honours"


def _village(app, world, pw, points: list[int], tags=None) -> list:
    """Households of 官田村 besides pw's two (which keep 0 points), with these points this year."""
    def make():
        ids = []
        for n, p in enumerate(points):
            hid = add_household(pw.village, world.a.grid[-1], NAMES[n], f"{10 + n}号", tags=(tags or {}).get(n, ()))
            if p:
                give(hid, p)
            ids.append(hid)
        return ids
    return in_tenant(app, world.a.tenant_id, make)


def _rate(app, world, period=None):  # every village
    return in_tenant(app, world.a.tenant_id, lambda: stars.rate(period or clock.today().year))


def _other_village(app, world, village_id, points: list[int]) -> list:
    def make():
        node = micro_node(village_id)
        ids = []
        for n, p in enumerate(points):
            hid = add_household(village_id, node, NAMES[n], f"{10 + n}号")
            if p:
                give(hid, p)
            ids.append(hid)
        return ids
    return in_tenant(app, world.a.tenant_id, make)


def test_levels_by_points_by_top_percentage_and_ties_at_a_threshold(app, world, pw):
    period = in_tenant(app, world.a.tenant_id, clock.today).year

    def rated(levels, village):
        return in_tenant(app, world.a.tenant_id, lambda: (set_levels(who("admin"), levels),
                                                          stars.rate(period, village))[1])
    # by points: the highest level met (官田村: pw's two households keep 0 points)
    ids = _village(app, world, pw, [85, 35, 30, 10, 9])
    found = rated({1: (10, None), 3: (30, None), 5: (80, None)}, pw.village)
    assert [found[h].stars for h in ids] == [5, 3, 3, 1, 0]
    assert found[pw.household].stars == 0 and found[pw.household].earned == 0
    # every active household of the village is ranked, ties ranked equal (pw's two share the last place)
    assert found[ids[0]].rank == 1 and found[ids[0]].households == 7
    assert found[pw.household].rank == found[pw.household2].rank == 6
    # by top percentage (礼坑村, 10 households): top 10 % is rank 1 (100·0 ≤ 90), top 30 % ranks 1–3
    ids = _other_village(app, world, world.a.villages[1], [80, 70, 60, 50, 40, 30, 20, 10, 0, 0])
    found = rated({4: (None, 30), 5: (None, 10)}, world.a.villages[1])
    assert [found[h].stars for h in ids] == [5, 4, 4, 0, 0, 0, 0, 0, 0, 0]
    # both criteria: 5 stars = top 10 % AND at least 90 points; the first has 80, so 4 stars
    found = rated({4: (None, 30), 5: (90, 10)}, world.a.villages[1])
    assert found[ids[0]].stars == 4 and found[ids[0]].points_stars == 4
    # ties at a threshold (梅园村): two tied first places are both rank 1, so both in the top 10 %;
    # four households at exactly 30 points all get the 3 stars
    ids = _other_village(app, world, world.a.villages[2], [50, 50, 40, 30, 30, 30, 5, 5, 0, 0])
    found = rated({3: (30, None), 5: (None, 10)}, world.a.villages[2])
    assert found[ids[0]].rank == found[ids[1]].rank == 1
    assert [found[h].stars for h in ids] == [5, 5, 3, 3, 3, 3, 0, 0, 0, 0]
    # the village pages read only their own village's households
    assert {r.village_id for r in found.values()} == {world.a.villages[2]}


def test_a_veto_deduction_caps_the_rating_until_corrected_away(app, world, pw):
    ids = _village(app, world, pw, [90, 90])

    def setup():
        set_levels(who("admin"), {1: (1, None), 5: (80, None)}, vetoes={"D1": 1})
        return give(ids[0], -5, "D1")
    deduction = in_tenant(app, world.a.tenant_id, setup)
    rated = _rate(app, world)
    assert (rated[ids[0]].points_stars, rated[ids[0]].stars, rated[ids[0]].capped_by) == (5, 1, ["D1"])
    assert (rated[ids[1]].stars, rated[ids[1]].capped_by) == (5, [])
    # a correction taking the deduction back lifts the cap (the ledger entries of D1 now sum to 0)
    in_tenant(app, world.a.tenant_id, lambda: ledger.correct(
        db.session.execute(select(LedgerTransaction).where(LedgerTransaction.id == deduction.id)).scalar_one(),
        new_points=0, reason="误扣", request_id=deduction.id))
    assert _rate(app, world)[ids[0]].stars == 5
    # a veto to 0 stars: no stars at all
    in_tenant(app, world.a.tenant_id, lambda: (set_levels(who("admin"), {1: (1, None), 5: (80, None)},
                                                          vetoes={"D1": 0}), give(ids[1], -5, "D1")))
    assert _rate(app, world)[ids[1]].stars == 0


def test_next_star_hint_by_points_by_share_and_blocked(app, world, pw, client):
    ids = _village(app, world, pw, [68, 100, 95, 90])

    def settings():
        set_levels(who("admin"), {3: (50, None), 4: (80, None), 5: (None, 25)}, vetoes={"D1": 3})
    in_tenant(app, world.a.tenant_id, settings)

    def hint(hid):
        return stars.household_stars(who("admin"), hid).next
    n = in_tenant(app, world.a.tenant_id, lambda: hint(ids[0]))
    assert (n.stars, n.points) == (4, 12)  # "12 more points for ★★★★"
    # 6 households; top 25 %: 100·(r−1) ≤ 125 → ranks 1–2; the 90-point household needs the 95 of No. 2
    n = in_tenant(app, world.a.tenant_id, lambda: hint(ids[3]))
    assert (n.stars, n.points, n.top_percent) == (5, 5, 25)
    in_tenant(app, world.a.tenant_id, lambda: give(ids[0], -2, "D1"))
    n = in_tenant(app, world.a.tenant_id, lambda: hint(ids[0]))
    assert (n.stars, n.points, n.blocked_by, n.cap) == (4, None, ["D1"], 3)
    # the page the household sees: its stars and the hint (computed now: the job has not run)
    in_tenant(app, world.a.tenant_id, lambda: give(pw.household, 60))
    page_login(client, "alpha", "villager")
    html = client.get(f"{PAGES}/households/{pw.household}").get_data(as_text=True)
    assert 'data-stars="3"' in html and 'id="next-star" data-stars="4" data-points="20"' in html
    home = client.get(f"/t/alpha/ledger/households/{pw.household}").get_data(as_text=True)
    assert 'id="next-star" data-stars="4" data-points="20"' in home  # the household home's panel
    # another household is not theirs
    assert client.get(f"{PAGES}/households/{pw.household2}").status_code == 404


def test_nightly_job_stores_ratings_and_running_twice_gives_the_same_rows(app, world, pw):
    ids = _village(app, world, pw, [85, 35, 0])
    in_tenant(app, world.a.tenant_id, lambda: set_levels(who("admin"), {1: (10, None), 5: (80, None)}))
    day = in_tenant(app, world.a.tenant_id, clock.today)

    def rows():
        return sorted((r.household_id, r.period, r.stars, r.points_stars, r.earned, r.village_rank,
                       r.village_households, r.capped_by, r.id)
                      for r in db.session.execute(select(StarRating)).scalars())

    with app.app_context():
        first = honour_jobs.star_ratings(str(world.a.tenant_id), day.isoformat())
    assert first[str(day.year)]["households"] == 5 and first[str(day.year)]["added"] == 5
    once = in_tenant(app, world.a.tenant_id, rows)
    with app.app_context():
        again = honour_jobs.star_ratings(str(world.a.tenant_id), day.isoformat())
        forced = honour_jobs.star_ratings(str(world.a.tenant_id), day.isoformat(), force=True)
    assert again.get("skipped") == "already done"
    assert forced[str(day.year)]["added"] == 0 and forced[str(day.year)]["updated"] == 0
    assert in_tenant(app, world.a.tenant_id, rows) == once
    assert {r[0]: r[2] for r in once} == {ids[0]: 5, ids[1]: 1, ids[2]: 0, pw.household: 0, pw.household2: 0}
    # beta was not touched; and the job's run is recorded once
    with app.app_context():
        assert db.session.execute(select(StarRating).execution_options(all_tenants=True)).scalars().all().__len__() == 5
        runs = db.session.execute(select(JobRun).where(JobRun.job == honour_jobs.STAR_RATINGS)
                                  .execution_options(all_tenants=True)).scalars().all()
        assert [(r.status, r.attempts) for r in runs] == [("done", 2)]
    # new points, next night: the row changes in place (same id), a household gone drops out
    in_tenant(app, world.a.tenant_id, lambda: give(ids[2], 90))
    with app.app_context():
        honour_jobs.star_ratings(str(world.a.tenant_id), day.isoformat(), force=True)
    after = {r[0]: r for r in in_tenant(app, world.a.tenant_id, rows)}
    assert after[ids[2]][2] == 5 and after[ids[2]][-1] == {r[0]: r for r in once}[ids[2]][-1]


def test_january_also_rates_the_period_just_ended_and_past_periods_stay_viewable(app, world, pw, client):
    last_year = in_tenant(app, world.a.tenant_id, clock.today).year - 1
    ids = _village(app, world, pw, [0, 0])

    def setup():
        set_levels(who("admin"), {1: (10, None), 5: (80, None)})
        give(ids[0], 85, day=date(last_year, 12, 30))
        give(ids[1], 12, day=date(last_year, 6, 1))
    in_tenant(app, world.a.tenant_id, setup)
    assert stars.periods_to_rate(date(last_year + 1, 1, 2)) == [last_year + 1, last_year]
    assert stars.periods_to_rate(date(last_year + 1, 2, 1)) == [last_year + 1]
    with app.app_context():
        result = honour_jobs.star_ratings(str(world.a.tenant_id), date(last_year + 1, 1, 2).isoformat())
    assert set(result) - {"rows"} == {str(last_year + 1), str(last_year)}  # rows: for the job-runs page
    assert result["rows"] >= 2
    page_login(client, "alpha", "vadmin")
    html = client.get(f"{PAGES}/villages/{pw.village}/stars?period={last_year}").get_data(as_text=True)
    assert f'data-household="{ids[0]}" data-stars="5"' in html and f'data-household="{ids[1]}" data-stars="1"' in html
    body = client.get(f"{API}/ratings/villages/{pw.village}?period={last_year}",
                      headers=bearer(api_token(client, "alpha", "vadmin"))).get_json()
    assert body["distribution"]["5"] == 1 and body["distribution"]["1"] == 1 and body["distribution"]["0"] == 2
    assert client.get(f"{PAGES}/villages/{pw.village}/stars?period=1999").status_code == 200  # falls back to now


def test_settings_checks_name_the_fields_and_nothing_is_half_written(app, world, pw, client):
    page_login(client, "alpha", "admin")
    token = csrf_token(client, f"{PAGES}/settings")
    form = {"csrf_token": token, "name_display": "full", "wall_size": "10", "levels.0.min_points": "50",
            "levels.4.min_points": "20", "vetoes.0.item_code": "A1", "vetoes.0.max_stars": "0"}
    resp = client.post(f"{PAGES}/settings", data=form)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'class="field has-error"><input type="number" name="levels.4.min_points"' in html
    assert 'class="field has-error"><select name="vetoes.0.item_code"' in html
    assert in_tenant(app, world.a.tenant_id, lambda: (stars.levels(), stars.vetoes(), wall.settings().name_display)) \
        == ([], [], "masked")
    form |= {"levels.4.min_points": "80", "levels.4.top_percent": "10", "vetoes.0.item_code": "D1"}
    assert client.post(f"{PAGES}/settings", data=form).status_code == 302
    assert in_tenant(app, world.a.tenant_id, stars.settings_snapshot) == {
        "levels": [{"stars": 1, "min_points": 50, "top_percent": None},
                   {"stars": 5, "min_points": 80, "top_percent": 10}],
        "vetoes": [{"item_code": "D1", "max_stars": 0}]}
    # the API names the bad field too
    headers = bearer(api_token(client, "alpha", "admin"))
    resp = client.put(f"{API}/settings", headers=headers, json={"levels": [{"stars": 2, "top_percent": 10},
                                                                           {"stars": 3, "top_percent": 20}]})
    assert resp.status_code == 409 and "levels.1.top_percent" in resp.get_json()["errors"]["json"]
    resp = client.put(f"{API}/settings", headers=headers, json={"name_display": "full", "wall_size": 12})
    assert resp.status_code == 200 and resp.get_json()["wall_size"] == 12
    assert client.get(f"{API}/settings", headers=headers).get_json()["levels"][1]["min_points"] == 80


def test_who_may_see_and_change_ratings(app, world, pw, client):
    _village(app, world, pw, [40])
    in_tenant(app, world.a.tenant_id, lambda: set_levels(who("admin"), {1: (10, None)}))
    other = world.a.villages[2]
    with pytest.raises(Forbidden):
        in_tenant(app, world.a.tenant_id, lambda: stars.update_settings(who("vadmin"), {"levels": []}))
    with pytest.raises(NotFound):  # village admin of 官田村, not of 梅园村
        in_tenant(app, world.a.tenant_id, lambda: stars.village_stars(who("vadmin"), other))
    with pytest.raises(NotFound):  # a villager sees their household, not the village
        in_tenant(app, world.a.tenant_id, lambda: stars.village_stars(who("villager"), pw.village))
    assert in_tenant(app, world.a.tenant_id, lambda: stars.village_stars(who("gridder"), pw.village)).period
    with pytest.raises(Invalid):
        in_tenant(app, world.a.tenant_id, lambda: stars.recompute(who("admin"), "1999"))
    headers = bearer(api_token(client, "alpha", "vadmin"))
    assert client.post(f"{API}/ratings/recompute", headers=headers, json={}).status_code == 403
    assert client.get(f"{API}/settings", headers=headers).status_code == 403
    assert client.get(f"{API}/ratings/villages/{other}", headers=headers).status_code == 404
    admin = bearer(api_token(client, "alpha", "admin"))
    resp = client.post(f"{API}/ratings/recompute", headers=admin, json={})
    assert resp.status_code == 200 and resp.get_json()["households"] == 3
    body = client.get(f"{API}/ratings/households/{pw.household}", headers=bearer(api_token(client, "alpha", "villager"))).get_json()
    assert body["stars"] == 0 and body["next"]["stars"] == 1 and body["next"]["points"] == 10 and body["computed_on"]


# --- the honour wall ---------------------------------------------------------------------------------

def _wall(app, world, pw):
    ids = _village(app, world, pw, [90, 80, 70])

    def setup():
        set_levels(who("admin"), {1: (10, None), 5: (80, None)})
        stars.recompute(who("admin"))
        return wall.create_link(who("vadmin"), pw.village).public_token
    return ids, in_tenant(app, world.a.tenant_id, setup)


def test_the_public_wall_masks_names_by_default_and_shows_full_names_when_set(app, world, pw):
    _ids, token = _wall(app, world, pw)
    anyone = app.test_client()
    resp = anyone.get(f"{PAGES}/wall/{token}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "安*" in html and "白*" in html and "曹*" in html and "安明" not in html
    assert 'data-rank="1"' in html and 'data-stars="5" data-count="2"' in html
    assert "张三伟" not in html and "张*伟" not in html  # no points: not on the wall
    poster = anyone.get(f"{PAGES}/wall/{token}/print").get_data(as_text=True)
    assert "@page { size: A4" in poster and "安*" in poster and "hw-sign" in poster
    in_tenant(app, world.a.tenant_id, lambda: wall.update_settings(who("admin"), {"name_display": "full"}))
    html = anyone.get(f"{PAGES}/wall/{token}").get_data(as_text=True)
    assert "安明" in html and "安*" not in html
    assert anyone.get(f"{PAGES}/wall/not-the-token").status_code == 404
    assert anyone.get(f"/t/beta/honours/wall/{token}").status_code == 404  # alpha's token on beta's URL


def test_staff_get_the_link_and_renewing_retires_the_old_one(app, world, pw, client):
    page_login(client, "alpha", "vadmin")
    page = client.get(f"{PAGES}/?village_id={pw.village}").get_data(as_text=True)
    assert 'id="wall-create"' in page
    token = csrf_token(client, f"{PAGES}/?village_id={pw.village}")
    assert client.post(f"{PAGES}/villages/{pw.village}/wall", data={"csrf_token": token}).status_code == 302
    page = client.get(f"{PAGES}/?village_id={pw.village}").get_data(as_text=True)
    assert 'id="wall-link"' in page and 'id="wall-print"' in page
    old = in_tenant(app, world.a.tenant_id, lambda: wall.wall_of(pw.village).public_token)
    client.post(f"{PAGES}/villages/{pw.village}/wall", data={"csrf_token": token, "renew": "1"})
    new = in_tenant(app, world.a.tenant_id, lambda: wall.wall_of(pw.village).public_token)
    assert new != old and app.test_client().get(f"{PAGES}/wall/{old}").status_code == 404
    assert app.test_client().get(f"{PAGES}/wall/{new}").status_code == 200
    # a panel member sees the link but may not create or renew it
    with pytest.raises(Forbidden):
        in_tenant(app, world.a.tenant_id, lambda: wall.create_link(who("panel1"), pw.village, renew=True))
    api = bearer(api_token(client, "alpha", "panel1"))
    assert client.get(f"{API}/wall/villages/{pw.village}", headers=api).get_json()["public_url"].endswith(new)
