"""422 or 409 for points, notices, periods, the ledger, honours and notification preferences: a
rule about the input alone is declared in the API document from the service's own constant (and
breaking it is a 422 naming the field); a rule that depends on the township's data or the date is
a 409 naming the field, and nothing is written."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.input import FIRST_YEAR, LAST_YEAR
from jifen.tenants.honours import recommendations, stars, titles, wall
from jifen.tenants.honours.models import HonourShortlist, HonourTitle, RecommendationList, StarLevel
from jifen.tenants.notifications import delivery_api
from jifen.tenants.points import applications, entries
from jifen.tenants.points.models import Application, Batch, Notice
from tests.conftest import api_token, bearer
from tests.points_world import in_alpha

BASE = "/api/v1/t/alpha"


@pytest.fixture
def admin(client, world):
    return bearer(api_token(client, "alpha", world.a.username()))


def count(app, world, model) -> int:
    return in_alpha(app, world, lambda: db.session.execute(select(func.count()).select_from(model)).scalar_one())


def this_year(app, world) -> int:
    return in_alpha(app, world, lambda: clock.today().year)


def fields_of(resp) -> set:
    return {name for location in resp.get_json().get("errors", {}).values() for name in location}


def test_the_document_declares_the_services_limits(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    form = schemas["ApplicationForm"]
    assert {"description", "occurred_on"} <= set(form["required"])
    assert form["properties"]["description"]["maxLength"] == applications.MAX_DESCRIPTION
    assert form["properties"]["photos"]["maxItems"] == applications.MAX_PHOTOS
    assert form["anyOf"] == [{"required": ["item_id"]}, {"required": ["item_code"]}]
    assert "household_id" in schemas["ProxyForm"]["required"]
    batch = schemas["BatchSheetIn"]
    assert {"occurred_on", "rows", "title"} <= set(batch["required"])
    assert batch["properties"]["rows"]["minItems"] == 1
    assert batch["properties"]["title"]["maxLength"] == applications.MAX_TITLE
    settings = schemas["Settings"]["properties"]
    assert (settings["quorum"]["minimum"], settings["quorum"]["maximum"]) == (1, applications.MAX_QUORUM)
    assert settings["notice_days"]["maximum"] == applications.MAX_NOTICE_DAYS
    assert settings["carry_over_limit"]["maximum"] == applications.MAX_CARRY_OVER_LIMIT
    assert schemas["Correction"]["properties"]["points"]["maximum"] == entries.MAX_CORRECTION_POINTS
    close = schemas["Close"]["properties"]["period"]
    assert (close["minimum"], close["maximum"]) == (FIRST_YEAR, LAST_YEAR)
    title = schemas["HonourTitle"]["properties"]
    assert title["name_zh"]["maxLength"] == titles.MAX_NAME_ZH and title["quota"]["maximum"] == titles.MAX_QUOTA
    assert (title["min_stars"]["minimum"], title["min_stars"]["maximum"]) == (1, stars.MAX_STARS)
    assert schemas["HonourDraw"]["properties"]["period"]["maximum"] == LAST_YEAR
    assert schemas["RecommendationList"]["properties"]["max_age"]["maximum"] == recommendations.MAX_AGE
    wall_size = schemas["HonourSettings"]["properties"]["wall_size"]
    assert (wall_size["minimum"], wall_size["maximum"]) == (wall.MIN_WALL_SIZE, wall.MAX_WALL_SIZE)
    assert schemas["StarVeto"]["properties"]["max_stars"]["maximum"] == stars.MAX_VETO_STARS
    assert schemas["PreferencesPatch"]["properties"]["quiet_start"]["pattern"] == delivery_api.TIME_PATTERN


def test_breaking_a_declared_limit_is_a_422_naming_the_field(app, world, pw, client, admin):
    villager = bearer(api_token(client, "alpha", "villager"))
    long = {"item_code": "A1", "occurred_on": clock.today().isoformat(),
            "description": "长" * (applications.MAX_DESCRIPTION + 1)}
    resp = client.post(f"{BASE}/points/applications", data=long, headers=villager, content_type="multipart/form-data")
    assert resp.status_code == 422 and "description" in fields_of(resp)
    resp = client.put(f"{BASE}/ledger/settings", json={"quorum": applications.MAX_QUORUM + 1, "notice_days": 5},
                      headers=admin)
    assert resp.status_code == 422 and fields_of(resp) == {"quorum"}
    resp = client.post(f"{BASE}/periods/close", json={"period": LAST_YEAR + 1}, headers=admin)
    assert resp.status_code == 422 and "period" in fields_of(resp)
    resp = client.post(f"{BASE}/honours/titles", json={"name_zh": "最美家庭", "min_stars": stars.MAX_STARS + 1},
                       headers=admin)
    assert resp.status_code == 422 and fields_of(resp) == {"min_stars"}
    resp = client.put(f"{BASE}/honours/settings", json={"wall_size": wall.MIN_WALL_SIZE - 1}, headers=admin)
    assert resp.status_code == 422 and fields_of(resp) == {"wall_size"}
    resp = client.get(f"{BASE}/honours/shortlists", query_string={"village_id": str(pw.village),
                                                                   "period": FIRST_YEAR - 1}, headers=admin)
    assert resp.status_code == 422 and fields_of(resp) == {"period"}
    assert count(app, world, Application) == 0
    assert count(app, world, HonourTitle) == 0


def test_a_rule_of_the_townships_data_or_the_date_is_a_409_naming_the_field(app, world, pw, client, admin):
    next_year = this_year(app, world) + 1
    resp = client.post(f"{BASE}/notices/publish", json={"village_id": str(pw.village)}, headers=admin)
    assert resp.status_code == 409 and fields_of(resp) == {"village_id"}  # nothing certified waits
    assert count(app, world, Notice) == 0
    gridder = bearer(api_token(client, "alpha", "gridder"))
    body = {"item_code": "S1", "occurred_on": clock.today().isoformat(), "title": "三月卫生检查",
            "rows": [{"household_id": str(pw.household), "points": 5},
                     {"household_id": str(uuid.uuid4()), "points": 5}]}
    resp = client.post(f"{BASE}/points/batches", json=body, headers=gridder)
    assert resp.status_code == 409 and fields_of(resp) == {"rows.1.household_id"}
    assert count(app, world, Batch) == 0 and count(app, world, Application) == 0
    resp = client.post(f"{BASE}/honours/ratings/recompute", json={"period": next_year}, headers=admin)
    assert resp.status_code == 409 and fields_of(resp) == {"period"}  # a year not yet begun
    resp = client.get(f"{BASE}/honours/shortlists", query_string={"village_id": str(pw.village),
                                                                   "period": next_year}, headers=admin)
    assert resp.status_code == 409 and fields_of(resp) == {"period"}
    title = client.post(f"{BASE}/honours/titles", json={"name_zh": "最美家庭", "quota": 3}, headers=admin)
    assert title.status_code == 201
    resp = client.post(f"{BASE}/honours/titles/{title.get_json()['id']}/shortlists",
                       json={"village_id": str(pw.village), "period": next_year}, headers=admin)
    assert resp.status_code == 409 and fields_of(resp) == {"period"}
    assert count(app, world, HonourShortlist) == 0
    resp = client.post(f"{BASE}/honours/lists", json={"name_zh": "参军", "min_age": 30, "max_age": 18}, headers=admin)
    assert resp.status_code == 409 and fields_of(resp) == {"max_age"}
    assert count(app, world, RecommendationList) == 0
    resp = client.put(f"{BASE}/honours/settings", json={"levels": [{"stars": 2, "min_points": 10},
                                                                   {"stars": 2, "min_points": 20}]}, headers=admin)
    assert resp.status_code == 409 and fields_of(resp) == {"levels.1.stars"}  # each number of stars once
    assert count(app, world, StarLevel) == 0
