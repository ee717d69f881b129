"""The pages where applications come to be and are judged, driven through the test client."""
from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.db import db
from jifen.tenants.points.models import Application, ApplicationPhoto, CertificationVote
from tests.conftest import csrf_token, page_login
from tests.points_world import in_alpha, jpeg

P = "/t/alpha/points"
ONCE_RE = re.compile(r'name="once" value="([^"]+)"')


def today(app, world) -> str:
    return in_alpha(app, world, lambda: clock.today().isoformat())


def apps_of(app, world, **where) -> list[Application]:
    def q():
        rows = db.session.execute(select(Application).filter_by(**where).order_by(Application.created_at)).scalars().all()
        db.session.expunge_all()
        return rows
    return in_alpha(app, world, q)


def count(app, world, model) -> int:
    return in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(model)).scalar_one())


def signed_in(app, username):
    client = app.test_client()
    assert page_login(client, "alpha", username).status_code == 302
    return client


def form_of(client, path) -> tuple[str, str]:
    html = client.get(path).get_data(as_text=True)
    return csrf_token(client, path), ONCE_RE.search(html).group(1)


def self_apply(client, pw, day, **more):
    token, once = form_of(client, f"{P}/apply")
    data = {"csrf_token": token, "once": once, "household_id": str(pw.household), "item_id": str(pw.items["A1"]),
            "occurred_on": day, "description": "打扫村道", "photos": (jpeg(), "p.jpg")} | more
    return client.post(f"{P}/apply", data=data, content_type="multipart/form-data")


def test_villager_applies_gridder_verifies_panel_certifies_through_the_pages(app, world, pw):
    day = today(app, world)
    villager = signed_in(app, "villager")
    page = villager.get(f"{P}/apply").get_data(as_text=True)
    assert "测试项A1" in page and "测试项A2" in page and "测试项V1" in page
    assert "测试项D1" not in page and "测试项S1" not in page  # deductions and staff items are not offered
    assert 'capture' not in page and 'accept="image/*"' in page  # the gallery may be chosen, not only the camera
    resp = self_apply(villager, pw, day)
    assert resp.status_code == 303
    [application] = apps_of(app, world)
    assert resp.location.endswith(f"/points/applications/{application.id}?done=1")
    assert application.state == "submitted" and application.origin == "self" and application.points == 2
    assert count(app, world, ApplicationPhoto) == 1
    detail = villager.get(resp.location).get_data(as_text=True)
    assert 'data-state="submitted"' in detail and 'id="withdraw-form"' in detail
    assert "/t/alpha/files/" in detail and 'id="verify-form"' not in detail

    gridder = signed_in(app, "gridder")
    queue = gridder.get(f"{P}/queue").get_data(as_text=True)
    assert f'id="q-{application.id}"' in queue
    token = csrf_token(gridder, f"{P}/queue")
    resp = gridder.post(f"{P}/applications/{application.id}/verify", data={"csrf_token": token, "next": f"{P}/queue"})
    assert resp.status_code == 303 and resp.location.endswith(f"{P}/queue")
    assert apps_of(app, world)[0].state == "verified"
    assert f'id="q-{application.id}"' not in gridder.get(f"{P}/queue").get_data(as_text=True)

    for n, member in enumerate(("panel1", "panel2"), start=1):
        panel = signed_in(app, member)
        queue = panel.get(f"{P}/panel").get_data(as_text=True)
        assert f'id="q-{application.id}"' in queue
        token = csrf_token(panel, f"{P}/queue")
        resp = panel.post(f"{P}/applications/{application.id}/vote",
                          data={"csrf_token": token, "decision": "approve", "next": f"{P}/queue"})
        assert resp.status_code == 303
        assert f'id="q-{application.id}"' not in panel.get(f"{P}/queue").get_data(as_text=True)
        assert count(app, world, CertificationVote) == n
    done = apps_of(app, world)[0]
    assert done.state == "certified" and "panel1" in done.certified_by_names
    history = villager.get(f"{P}/applications/{application.id}").get_data(as_text=True)
    assert 'data-state="certified"' in history and history.count("panel") >= 2


def test_bad_input_is_422_naming_the_field_and_writes_nothing(app, world, pw):
    villager = signed_in(app, "villager")
    resp = self_apply(villager, pw, "2999-01-01", description="")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="e-description"' in html and 'id="e-occurred_on"' in html
    resp = self_apply(villager, pw, today(app, world), photos=(io.BytesIO(b""), ""))  # A1 needs a photo
    assert resp.status_code == 422 and 'id="e-photos"' in resp.get_data(as_text=True)
    resp = self_apply(villager, pw, today(app, world), item_id=str(pw.items["D1"]))  # staff-only item
    assert resp.status_code == 422 and 'id="e-item_id"' in resp.get_data(as_text=True)
    assert count(app, world, Application) == 0 and count(app, world, ApplicationPhoto) == 0
    # a verification without a reason for changed points: nothing changes either
    self_apply(villager, pw, today(app, world))
    [application] = apps_of(app, world)
    gridder = signed_in(app, "gridder")
    token = csrf_token(gridder, f"{P}/queue")
    resp = gridder.post(f"{P}/applications/{application.id}/verify", data={"csrf_token": token, "points": "5"})
    assert resp.status_code == 422 and 'id="e-reason"' in resp.get_data(as_text=True)
    assert apps_of(app, world)[0].state == "submitted" and apps_of(app, world)[0].points == 2


def test_double_tap_makes_one_application(app, world, pw):
    villager = signed_in(app, "villager")
    token, once = form_of(villager, f"{P}/apply")
    data = lambda: {"csrf_token": token, "once": once, "household_id": str(pw.household),  # noqa: E731
                    "item_id": str(pw.items["A2"]), "occurred_on": today(app, world), "description": "帮邻居"}
    first = villager.post(f"{P}/apply", data=data())
    second = villager.post(f"{P}/apply", data=data())
    assert first.status_code == second.status_code == 303
    assert first.location == second.location
    assert len(apps_of(app, world)) == 1
    # a new form (new key) is a new application
    _token, once = form_of(villager, f"{P}/apply")
    assert villager.post(f"{P}/apply", data=data() | {"once": once}).status_code == 303
    assert len(apps_of(app, world)) == 2


def test_panel_member_cannot_vote_for_their_own_household(app, world, pw):
    def give_phone():
        user = db.session.execute(select(User).where(User.username == "panel1")).scalar_one()
        user.phone = "13800000002"  # 李四's phone: panel1 is of household2
        db.session.commit()
    in_alpha(app, world, give_phone)
    gridder = signed_in(app, "gridder")
    token, once = form_of(gridder, f"{P}/households/{pw.household2}/record")
    resp = gridder.post(f"{P}/households/{pw.household2}/record", data={
        "csrf_token": token, "once": once, "item_id": str(pw.items["S1"]), "points": "4",
        "occurred_on": today(app, world), "description": "义务巡逻"})
    assert resp.status_code == 303
    [application] = apps_of(app, world)
    assert application.state == "verified" and application.origin == "staff"
    panel1 = signed_in(app, "panel1")
    assert f'id="q-{application.id}"' not in panel1.get(f"{P}/queue").get_data(as_text=True)
    detail = panel1.get(f"{P}/applications/{application.id}").get_data(as_text=True)
    assert 'id="vote-form"' not in detail and 'id="own-household"' in detail
    token = csrf_token(panel1, f"{P}/queue")
    resp = panel1.post(f"{P}/applications/{application.id}/vote", data={"csrf_token": token, "decision": "approve"})
    assert resp.status_code == 422
    assert count(app, world, CertificationVote) == 0
    panel2 = signed_in(app, "panel2")
    assert f'id="q-{application.id}"' in panel2.get(f"{P}/queue").get_data(as_text=True)


def test_out_of_scope_gridder_gets_404(app, world, pw):
    from jifen.platform.accounts.service import actor_for
    from jifen.platform.staff import service as staff
    from jifen.platform.tenancy import tenant_get
    from jifen.tenants.villages.models import GridNode
    from tests.conftest import set_password

    def other_gridder():
        admin = actor_for(tenant_get(User, world.a.user_id()))
        node = GridNode(level=1, name="另一大网格", path="", village_id=world.a.villages[0])
        db.session.add(node)
        db.session.flush()
        node.path = f"/{node.id}/"
        user, _ = staff.invite(admin, {"username": "gridder2", "display_name": "gridder2",
                                       "roles": [{"role": "grid_worker", "scope_ids": [node.id]}]})
        set_password(user)
        db.session.commit()
    in_alpha(app, world, other_gridder)
    self_apply(signed_in(app, "villager"), pw, today(app, world))
    [application] = apps_of(app, world)
    outsider = signed_in(app, "gridder2")
    assert outsider.get(f"{P}/applications/{application.id}").status_code == 404
    token = csrf_token(outsider, f"{P}/queue")
    assert outsider.post(f"{P}/applications/{application.id}/verify", data={"csrf_token": token}).status_code == 404
    assert outsider.get(f"{P}/households/{pw.household}/apply").status_code == 404
    assert f'q-{application.id}' not in outsider.get(f"{P}/queue").get_data(as_text=True)
    assert str(application.id) not in outsider.get(f"{P}/applications").get_data(as_text=True)
    assert apps_of(app, world)[0].state == "submitted"


def test_proxy_entry_from_the_household_page_and_the_household_confirms(app, world, pw):
    gridder = signed_in(app, "gridder")
    household_page = gridder.get(f"/t/alpha/households/{pw.household2}").get_data(as_text=True)
    assert f"{P}/households/{pw.household2}/apply" in household_page
    assert f"{P}/households/{pw.household2}/apply" not in \
        signed_in(app, "villager").get(f"/t/alpha/households/{pw.household}").get_data(as_text=True).replace(
            str(pw.household2), "")
    token, once = form_of(gridder, f"{P}/households/{pw.household2}/apply")
    resp = gridder.post(f"{P}/households/{pw.household2}/apply", data={
        "csrf_token": token, "once": once, "item_id": str(pw.items["A2"]), "occurred_on": today(app, world),
        "description": "代李四申请"})
    assert resp.status_code == 303
    [application] = apps_of(app, world)
    assert application.origin == "proxy" and application.household_id == pw.household2
    household = signed_in(app, "villager2")
    detail = household.get(f"{P}/applications/{application.id}").get_data(as_text=True)
    assert 'id="proxy-mark"' in detail and 'id="confirm-form"' in detail
    token = csrf_token(household, f"{P}/applications/{application.id}")
    assert household.post(f"{P}/applications/{application.id}/confirm", data={"csrf_token": token}).status_code == 303
    assert apps_of(app, world)[0].confirmed_at is not None
    assert 'id="confirm-form"' not in household.get(f"{P}/applications/{application.id}").get_data(as_text=True)
    # the other household's villager does not see it at all
    assert signed_in(app, "villager").get(f"{P}/applications/{application.id}").status_code == 404


def test_batch_sheet_is_all_or_nothing_with_errors_next_to_the_row(app, world, pw):
    gridder = signed_in(app, "gridder")
    sheet = f"{P}/batch?village_id={pw.village}"
    html = gridder.get(sheet).get_data(as_text=True)
    assert "1号" in html and "2号" in html and f'name="points-{pw.household2}"' in html
    token, once = form_of(gridder, sheet)
    data = {"csrf_token": token, "once": once, "village_id": str(pw.village), "item_id": str(pw.items["S1"]),
            "occurred_on": today(app, world), "title": "三月卫生检查",
            "household_id": [str(pw.household), str(pw.household2)],
            f"points-{pw.household}": "5", f"points-{pw.household2}": "20"}
    resp = gridder.post(f"{P}/batch", data=data)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert f'id="e-points-{pw.household2}"' in html and f'id="e-points-{pw.household}"' not in html
    assert count(app, world, Application) == 0
    resp = gridder.post(f"{P}/batch", data=data | {f"points-{pw.household2}": ""})  # blank: skipped
    assert resp.status_code == 303 and "batch_id=" in resp.location
    [application] = apps_of(app, world)
    assert application.household_id == pw.household and application.points == 5 and application.state == "verified"
    listed = gridder.get(resp.location).get_data(as_text=True)
    assert f'data-id="{application.id}"' in listed


def test_application_list_filters_and_pages(app, world, pw):
    villager = signed_in(app, "villager")
    for _n in range(3):
        self_apply(villager, pw, today(app, world), item_id=str(pw.items["A2"]), photos=(io.BytesIO(b""), ""))
    [first, *_rest] = apps_of(app, world)
    gridder = signed_in(app, "gridder")
    token = csrf_token(gridder, f"{P}/queue")
    gridder.post(f"{P}/applications/{first.id}/reject", data={"csrf_token": token, "reason": "重复申请"})
    assert apps_of(app, world, id=first.id)[0].state == "rejected"
    page = gridder.get(f"{P}/applications?state=submitted").get_data(as_text=True)
    assert page.count('class="pt-row"') == 2 and str(first.id) not in page
    page = gridder.get(f"{P}/applications?state=rejected").get_data(as_text=True)
    assert page.count('class="pt-row"') == 1 and str(first.id) in page
    assert gridder.get(f"{P}/applications?state=nonsense").status_code == 422
    # the villager sees only their household's; the other household's villager sees none
    assert signed_in(app, "villager2").get(f"{P}/applications").get_data(as_text=True).count('class="pt-row"') == 0


def test_queue_reject_without_reason_shows_the_error_on_the_row(app, world, pw):
    self_apply(signed_in(app, "villager"), pw, today(app, world))
    [application] = apps_of(app, world)
    gridder = signed_in(app, "gridder")
    token = csrf_token(gridder, f"{P}/queue")
    resp = gridder.post(f"{P}/applications/{application.id}/reject",
                        data={"csrf_token": token, "reason": "", "next": f"{P}/queue"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    row = html[html.index(f'id="q-{application.id}"'):]
    assert 'class="error"' in row[:row.index("</li>")]
    assert apps_of(app, world)[0].state == "submitted"


def test_too_large_upload_shows_the_form_again_with_the_message_at_the_photos(app, world, pw):
    villager = signed_in(app, "villager")
    token, once = form_of(villager, f"{P}/apply")
    big = b"\xff" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    resp = villager.post(f"{P}/apply", data={"csrf_token": token, "once": once, "photos": (io.BytesIO(big), "a.jpg")},
                         content_type="multipart/form-data")
    assert resp.status_code == 413
    assert 'id="e-photos"' in resp.get_data(as_text=True) and 'id="apply-form"' in resp.get_data(as_text=True)
    assert count(app, world, Application) == 0


def test_queue_shows_the_evidence_and_no_approve_for_ones_own_proxy_entry(app, world, pw):
    """The queue shows photo thumbnails and the item's 需附照片; the grid worker who filed a proxy
    entry gets no verify button for it, and a post anyway is refused with the reason on the row."""
    day = today(app, world)
    assert self_apply(signed_in(app, "villager"), pw, day).status_code == 303
    gridder = signed_in(app, "gridder")
    token, once = form_of(gridder, f"{P}/households/{pw.household2}/apply")
    assert gridder.post(f"{P}/households/{pw.household2}/apply", data={
        "csrf_token": token, "once": once, "item_id": str(pw.items["A2"]), "occurred_on": day,
        "description": "代李四申请"}).status_code == 303
    own, proxy = apps_of(app, world)
    queue = gridder.get(f"{P}/queue").get_data(as_text=True)
    row = queue[queue.index(f'id="q-{own.id}"'):]
    row = row[:row.index("</li>")]
    assert 'loading="lazy"' in row and 'width="64"' in row and "/t/alpha/files/" in row
    assert "需附照片" in row  # item A1 needs a photo
    assert f"/applications/{own.id}/verify" in row
    row = queue[queue.index(f'id="q-{proxy.id}"'):]
    row = row[:row.index("</li>")]
    assert f"/applications/{proxy.id}/verify" not in row and "职责分离" in row and "需附照片" not in row
    detail = gridder.get(f"{P}/applications/{proxy.id}").get_data(as_text=True)
    assert 'id="verify-form"' not in detail and 'id="filed-by-me"' in detail
    token = csrf_token(gridder, f"{P}/queue")
    resp = gridder.post(f"{P}/applications/{proxy.id}/verify", data={"csrf_token": token, "next": f"{P}/queue"})
    assert resp.status_code == 422 and "职责分离" in resp.get_data(as_text=True)
    assert apps_of(app, world)[1].state == "submitted"
