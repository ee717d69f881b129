"""The applications API: creating applications (idempotently), judging them, the queue."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.db import db
from jifen.tenants.points.models import Application, ApplicationPhoto, Batch, CertificationVote
from tests.conftest import api_token, bearer
from tests.points_world import in_alpha, jpeg

A = "/api/v1/t/alpha/points"


def count(app, world, model) -> int:
    return in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(model)).scalar_one())


def today(app, world) -> str:
    return in_alpha(app, world, lambda: clock.today().isoformat())


@pytest.fixture
def as_(app):
    tokens = {}

    def headers(username, **more):
        if username not in tokens:
            tokens[username] = bearer(api_token(app.test_client(), "alpha", username))
        return tokens[username] | more
    return headers


def apply_body(pw, day, **more):
    return {"item_id": str(pw.items["A1"]), "occurred_on": day, "description": "清理河道垃圾",
            "photos": (jpeg(), "p.jpg")} | more


def test_self_application_to_certified_through_the_api(app, world, pw, client, as_):
    day = today(app, world)
    resp = client.post(f"{A}/applications", data=apply_body(pw, day), headers=as_("villager"),
                       content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    app_id = body["id"]
    assert body["state"] == "submitted" and body["origin"] == "self" and body["points"] == 2
    assert body["household_id"] == str(pw.household) and len(body["photos"]) == 1
    assert body["steps"][0]["step"] == "submit" and body["quorum"] == 2

    queue = client.get(f"{A}/queue", headers=as_("gridder")).get_json()
    assert [a["id"] for a in queue["to_verify"]] == [app_id]
    resp = client.post(f"{A}/applications/{app_id}/verify", json={"points": 9, "reason": "x"}, headers=as_("gridder"))
    assert resp.status_code == 409 and "points" in resp.get_json()["errors"]["json"]
    resp = client.post(f"{A}/applications/{app_id}/verify", json={"points": 4, "reason": "面积大"},
                       headers=as_("gridder"))
    assert resp.status_code == 200 and resp.get_json()["state"] == "verified" and resp.get_json()["points"] == 4

    assert [a["id"] for a in client.get(f"{A}/queue", headers=as_("panel1")).get_json()["to_certify"]] == [app_id]
    resp = client.post(f"{A}/applications/{app_id}/vote", json={"decision": "reject"}, headers=as_("panel1"))
    assert resp.status_code == 422 and "reason" in resp.get_json()["errors"]["json"]
    assert client.post(f"{A}/applications/{app_id}/vote", json={"decision": "approve"},
                       headers=as_("panel1")).status_code == 200
    again = client.post(f"{A}/applications/{app_id}/vote", json={"decision": "approve"}, headers=as_("panel1"))
    assert again.status_code == 409
    assert client.get(f"{A}/queue", headers=as_("panel1")).get_json()["to_certify"] == []
    resp = client.post(f"{A}/applications/{app_id}/vote", json={"decision": "approve"}, headers=as_("panel2"))
    assert resp.get_json()["state"] == "certified"
    detail = client.get(f"{A}/applications/{app_id}", headers=as_("villager")).get_json()
    assert [v["member_name"] for v in detail["votes"]] == ["panel1", "panel2"]
    assert [s["step"] for s in detail["steps"]] == ["submit", "verify", "vote", "vote", "certify"]
    assert detail["objections"] == []


def test_bad_input_is_422_naming_the_field_and_writes_nothing(app, world, pw, client, as_):
    resp = client.post(f"{A}/applications", data={"item_id": str(pw.items["A1"]), "occurred_on": today(app, world)},
                       headers=as_("villager"), content_type="multipart/form-data")
    assert resp.status_code == 422 and "description" in resp.get_json()["errors"]["form"]
    resp = client.post(f"{A}/applications", data=apply_body(pw, "2999-01-01", photos=[]), headers=as_("villager"),
                       content_type="multipart/form-data")
    errors = resp.get_json()["errors"]["json"]
    assert resp.status_code == 409 and {"occurred_on"} <= set(errors)
    resp = client.post(f"{A}/records", json={"household_id": str(pw.household), "item_id": str(pw.items["S1"]),
                                             "occurred_on": today(app, world), "description": "巡逻", "points": 50},
                       headers=as_("gridder"))
    assert resp.status_code == 409 and "points" in resp.get_json()["errors"]["json"]
    resp = client.post(f"{A}/records", json={"household_id": str(pw.household), "occurred_on": today(app, world),
                                             "description": "x", "tenant_id": "x"}, headers=as_("gridder"))
    assert resp.status_code == 422 and "tenant_id" in resp.get_json()["errors"]["json"]
    assert count(app, world, Application) == 0 and count(app, world, ApplicationPhoto) == 0


def test_idempotency_key_replays_and_refuses_another_body(app, world, pw, client, as_):
    day = today(app, world)
    key = as_("villager", **{"Idempotency-Key": "apply-1"})
    first = client.post(f"{A}/applications", data=apply_body(pw, day), headers=key, content_type="multipart/form-data")
    replay = client.post(f"{A}/applications", data=apply_body(pw, day), headers=key, content_type="multipart/form-data")
    assert first.status_code == replay.status_code == 201
    assert replay.get_json()["id"] == first.get_json()["id"]
    other = client.post(f"{A}/applications", data=apply_body(pw, day, description="另一件事"), headers=key,
                        content_type="multipart/form-data")
    assert other.status_code == 409 and "Idempotency-Key" in other.get_json()["errors"]["json"]
    assert count(app, world, Application) == 1
    # a refused request frees its key: fixed input with the same key goes through
    key2 = as_("gridder", **{"Idempotency-Key": "rec-1"})
    body = {"household_id": str(pw.household), "item_id": str(pw.items["S1"]), "occurred_on": day,
            "description": "巡逻", "points": 99}
    assert client.post(f"{A}/records", json=body, headers=key2).status_code == 409
    ok = client.post(f"{A}/records", json=body | {"points": 6}, headers=key2)
    assert ok.status_code == 201 and ok.get_json()["state"] == "verified" and ok.get_json()["origin"] == "staff"
    assert client.post(f"{A}/records", json=body | {"points": 6}, headers=key2).get_json()["id"] == ok.get_json()["id"]
    assert count(app, world, Application) == 2


def test_batch_is_all_or_nothing(app, world, pw, client, as_):
    body = {"item_id": str(pw.items["S1"]), "occurred_on": today(app, world), "title": "三月卫生检查",
            "rows": [{"household_id": str(pw.household), "points": 5},
                     {"household_id": str(pw.household2), "points": 20}]}
    resp = client.post(f"{A}/batches", json=body, headers=as_("gridder"))
    assert resp.status_code == 409 and list(resp.get_json()["errors"]["json"]) == ["rows.1.points"]
    assert count(app, world, Application) == 0 and count(app, world, Batch) == 0
    body["rows"][1]["points"] = 3
    resp = client.post(f"{A}/batches", json=body, headers=as_("gridder", **{"Idempotency-Key": "b1"}))
    assert resp.status_code == 201 and resp.get_json()["row_count"] == 2
    assert len(resp.get_json()["application_ids"]) == 2
    assert client.post(f"{A}/batches", json=body, headers=as_("gridder", **{"Idempotency-Key": "b1"})).status_code == 201
    assert count(app, world, Application) == 2 and count(app, world, Batch) == 1
    listed = client.get(f"{A}/applications", query_string={"batch_id": resp.get_json()["id"]},
                        headers=as_("gridder")).get_json()
    assert listed["total"] == 2 and {a["state"] for a in listed["items"]} == {"verified"}


def test_proxy_confirm_withdraw_and_reject(app, world, pw, client, as_):
    day = today(app, world)
    resp = client.post(f"{A}/applications/proxy", data={"household_id": str(pw.household2),
                                                         "item_id": str(pw.items["A2"]), "occurred_on": day,
                                                         "description": "代为申请"},
                       headers=as_("gridder"), content_type="multipart/form-data")
    assert resp.status_code == 201 and resp.get_json()["origin"] == "proxy"
    proxy_id = resp.get_json()["id"]
    assert client.post(f"{A}/applications/{proxy_id}/confirm", headers=as_("villager")).status_code == 404
    resp = client.post(f"{A}/applications/{proxy_id}/confirm", headers=as_("villager2"))
    assert resp.status_code == 200 and resp.get_json()["confirmed_at"]
    assert client.post(f"{A}/applications/{proxy_id}/withdraw", headers=as_("villager2")).get_json()["state"] == \
        "withdrawn"
    assert client.post(f"{A}/applications/{proxy_id}/withdraw", headers=as_("villager2")).status_code == 409
    resp = client.post(f"{A}/applications", data={"item_id": str(pw.items["A2"]), "occurred_on": day,
                                                  "description": "帮扶"}, headers=as_("villager"),
                       content_type="multipart/form-data")
    own_id = resp.get_json()["id"]
    assert client.post(f"{A}/applications/{own_id}/reject", json={}, headers=as_("gridder")).status_code == 422
    resp = client.post(f"{A}/applications/{own_id}/reject", json={"reason": "无人证明"}, headers=as_("gridder"))
    assert resp.get_json()["state"] == "rejected" and resp.get_json()["reject_reason"] == "无人证明"
    page = client.get(f"{A}/applications", query_string={"state": "rejected"}, headers=as_("gridder")).get_json()
    assert [a["id"] for a in page["items"]] == [own_id]
    page = client.get(f"{A}/applications", query_string={"per_page": 1, "page": 2}, headers=as_("gridder")).get_json()
    assert page["total"] == 2 and page["pages"] == 2 and len(page["items"]) == 1
    assert client.get(f"{A}/applications", query_string={"state": "nope"}, headers=as_("gridder")).status_code == 422
    mine = client.get(f"{A}/applications", headers=as_("villager")).get_json()
    assert [a["id"] for a in mine["items"]] == [own_id]


def test_panel_member_cannot_vote_for_own_household(app, world, pw, client, as_):
    def give_phone():
        db.session.execute(select(User).where(User.username == "panel1")).scalar_one().phone = "13800000002"
        db.session.commit()
    in_alpha(app, world, give_phone)
    resp = client.post(f"{A}/records", json={"household_id": str(pw.household2), "item_id": str(pw.items["S1"]),
                                             "occurred_on": today(app, world), "description": "巡逻"},
                       headers=as_("gridder"))
    app_id = resp.get_json()["id"]
    assert client.get(f"{A}/queue", headers=as_("panel1")).get_json()["to_certify"] == []
    resp = client.post(f"{A}/applications/{app_id}/vote", json={"decision": "approve"}, headers=as_("panel1"))
    assert resp.status_code == 409 and "decision" in resp.get_json()["errors"]["json"]
    assert count(app, world, CertificationVote) == 0


def test_out_of_scope_and_other_tenant_are_404(app, world, pw, client, as_):
    resp = client.post(f"{A}/applications", data=apply_body(pw, today(app, world)), headers=as_("villager"),
                       content_type="multipart/form-data")
    app_id = resp.get_json()["id"]
    # "panel" is the panel member of another village; villager2 is another household
    for username in ("panel", "villager2"):
        assert client.get(f"{A}/applications/{app_id}", headers=as_(username)).status_code == 404
    assert client.post(f"{A}/applications/{app_id}/vote", json={"decision": "approve"},
                       headers=as_("panel")).status_code == 404
    assert client.post(f"{A}/applications/proxy", data={"household_id": str(pw.household), "item_id": "A2",
                                                        "occurred_on": today(app, world), "description": "x"},
                       headers=as_("villager"), content_type="multipart/form-data").status_code == 403
    beta = bearer(api_token(app.test_client(), "beta", "admin"))
    assert client.get(f"/api/v1/t/beta/points/applications/{app_id}", headers=beta).status_code == 404
    assert client.get(f"{A}/applications/{app_id}", headers=beta).status_code == 404


def test_whoever_filed_a_proxy_entry_cannot_approve_it(app, world, pw, client, as_):
    """Separation of duties: the grid worker who applied on the household's behalf may not verify
    it (409 naming the reason, nothing written); another verifier can."""
    resp = client.post(f"{A}/applications/proxy", data={"household_id": str(pw.household2),
                                                         "item_id": str(pw.items["A2"]),
                                                         "occurred_on": today(app, world), "description": "代为申请"},
                       headers=as_("gridder"), content_type="multipart/form-data")
    proxy_id = resp.get_json()["id"]
    resp = client.post(f"{A}/applications/{proxy_id}/verify", json={}, headers=as_("gridder"))
    assert resp.status_code == 409
    assert "职责分离" in resp.get_json()["errors"]["json"]["application_id"][0]
    assert in_alpha(app, world, lambda: db.session.execute(select(Application.state).where(
        Application.id == uuid.UUID(proxy_id))).scalar_one()) == "submitted"
    resp = client.post(f"{A}/applications/{proxy_id}/verify", json={}, headers=as_("admin"))
    assert resp.status_code == 200 and resp.get_json()["state"] in ("verified", "certified")
