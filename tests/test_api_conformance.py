"""The API keeps to its own OpenAPI document: every integer a client sends is bounded (422 naming the
field, never a database error), a 405 says what is allowed, an empty PATCH is refused, /me says what
it returns, validation errors speak the user's language, and schemathesis (every check, as a
township admin, a villager and anonymous) finds no server error and no conformance failure."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import PG_URL, api_token, bearer

TOO_BIG = 2**31  # one above PostgreSQL INTEGER; 356511822907 in the report
METHODS = ("get", "post", "put", "patch", "delete")
LOCATIONS = {"application/json": "json", "multipart/form-data": "form"}
# Documented bounds the service checks once it knows more than the schema can (an order line's
# quantity, after its catalog item is found: field `quantity`, tests/test_store_orders.py).
SERVICE_CHECKED = {("POST", "/api/v1/t/{tenant_slug}/orders/", "lines.0.quantity")}


def _spec(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _too_big(spec: dict, schema: dict):
    """A value for `schema` holding an out-of-range integer, and the names on the way to it; None
    when there is no integer a client may send in it."""
    schema = _resolve(spec, schema)
    if schema.get("readOnly"):
        return None
    if schema.get("type") == "integer":
        assert -(2**31) <= schema.get("minimum", -(2**63)) and schema.get("maximum", 2**63) < 2**31, schema
        return TOO_BIG, []
    if schema.get("type") == "array":
        found = _too_big(spec, schema.get("items", {}))
        return ([found[0]], ["0", *found[1]]) if found else None
    for name, prop in schema.get("properties", {}).items():
        found = _too_big(spec, prop)
        if found:
            return {name: found[0]}, [name, *found[1]]
    return None


def integer_inputs(spec: dict):
    """(method, path, location, value, names) for every integer input of every operation: query
    and path parameters, JSON and form bodies, one integer field at a time. Each one's documented
    bounds must lie within INTEGER (the document is generated from the same validators that check
    the requests)."""
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            for param in op.get("parameters", []):
                if param["in"] in ("query", "path") and _too_big(spec, param["schema"]):
                    yield method, path, param["in"], {param["name"]: TOO_BIG}, [param["name"]]
            for content_type, media in (op.get("requestBody") or {}).get("content", {}).items():
                body = _resolve(spec, media["schema"])
                for name, prop in body.get("properties", {}).items():
                    found = _too_big(spec, prop)
                    if found:
                        yield method, path, LOCATIONS[content_type], {name: found[0]}, [name, *found[1]]


def _named(errors, names) -> bool:
    for name in names:
        if not isinstance(errors, dict) or name not in errors:
            return False
        errors = errors[name]
    return True


def _url(path: str) -> str:
    for name in ("{tenant_slug}", "{township_slug}"):
        path = path.replace(name, "alpha")
    while "{" in path:  # an object id: the arguments are read before any object is looked up
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid.uuid4()) + path[end + 1:]
    return path


def test_every_integer_input_out_of_range_is_a_422_naming_it(app, world):
    client = app.test_client()
    spec = _spec(client)
    admin, operator = bearer(api_token(client, "alpha", "admin")), bearer(api_token(client, None, "op"))
    inputs = list(integer_inputs(spec))
    assert len(inputs) > 40  # the sweep really covers the API (page, period, sort_order, levels.stars, ...)
    wrong = []
    for method, path, location, value, names in inputs:
        if (method.upper(), path, ".".join(names)) in SERVICE_CHECKED:
            continue
        headers = (operator if "/county/" in path else admin) | {"Idempotency-Key": str(uuid.uuid4())}
        url = _url(path)
        if location == "query":
            resp = client.open(url, method=method.upper(), query_string=value, headers=headers)
        elif location == "form":
            resp = client.open(url, method=method.upper(), data={k: str(v) for k, v in value.items()},
                               headers=headers)
        else:
            resp = client.open(url, method=method.upper(), json=value, headers=headers)
        errors = (resp.get_json(silent=True) or {}).get("errors", {}).get(location, {})
        if resp.status_code == 404 and path.count("{") > 1:
            continue  # the object (a made-up id) is looked up first; the documented bound above still holds
        if resp.status_code != 422 or not _named(errors, names):
            wrong.append(f"{method.upper()} {path} {location} {'.'.join(names)}: {resp.status_code} "
                         f"{resp.get_data(as_text=True)[:160]}")
    assert not wrong, "\n".join(wrong)


def test_the_reported_period_is_a_422_naming_it_and_the_bound_is_documented(app, world):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    resp = client.get("/api/v1/t/alpha/dividends/pools/?period=356511822907", headers=headers)
    assert resp.status_code == 422
    assert list(resp.get_json()["errors"]["query"]) == ["period"]
    param = _spec(client)["paths"]["/api/v1/t/{tenant_slug}/dividends/pools/"]["get"]["parameters"][0]
    assert param["schema"]["maximum"] == 2**31 - 1


@pytest.mark.parametrize("path", ["/api/v1/t/alpha/villages/", "/t/alpha/login", "/county/login"])
def test_a_405_lists_the_allowed_methods(app, world, path):
    resp = app.test_client().open(path, method="TRACE")
    assert resp.status_code == 405
    assert "GET" in {m.strip() for m in resp.headers.get("Allow", "").split(",")}


def test_an_empty_patch_is_a_422_naming_the_body_and_changes_nothing(app, world):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    village = f"/api/v1/t/alpha/villages/{world.a.villages[0]}"
    for kwargs in ({"json": {}}, {}):
        resp = client.patch(village, headers=headers, **kwargs)
        assert resp.status_code == 422, resp.get_json()
        assert resp.get_json()["errors"] == {"json": {"_schema": ["没有要修改的内容：请至少填写一个字段。"]}}
    assert client.patch("/api/v1/t/alpha/me", json={}, headers=headers).status_code == 422
    resp = client.patch(village, json={"sort_order": 7}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["sort_order"] == 7


def test_me_locale_is_null_until_chosen_as_documented(app, world):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "villager"))  # invited: no language chosen yet
    locale = _spec(client)["components"]["schemas"]["Me"]["properties"]["locale"]
    assert locale["nullable"] is True
    assert client.get("/api/v1/t/alpha/me", headers=headers).get_json()["locale"] is None
    assert client.patch("/api/v1/t/alpha/me", json={"locale": "en"}, headers=headers).get_json()["locale"] == "en"
    resp = client.patch("/api/v1/t/alpha/me", json={"locale": None}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["locale"] is None


def test_request_validation_errors_speak_the_users_language(app, world):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    body = {"sort_order": "x", "colour": "red"}
    resp = client.post("/api/v1/t/alpha/villages/", json=body, headers=headers)
    assert resp.status_code == 422
    assert resp.get_json()["message"] == "请修改标出的内容。"
    assert resp.get_json()["errors"]["json"] == {"name": ["此项必填。"], "code": ["此项必填。"],
                                                 "sort_order": ["请输入整数。"], "colour": ["没有这个字段。"]}
    resp = client.get("/api/v1/t/alpha/dividends/pools/?period=356511822907", headers=headers)
    assert resp.get_json()["errors"]["query"]["period"] == ["须在 -2147483648 到 2147483647 之间（含）。"]
    client.patch("/api/v1/t/alpha/me", json={"locale": "en"}, headers=headers)
    resp = client.post("/api/v1/t/alpha/villages/", json=body, headers=headers)
    assert resp.get_json()["errors"]["json"]["name"] == ["Missing data for required field."]
    assert resp.get_json()["errors"]["json"]["colour"] == ["Unknown field."]


# --- schemathesis ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def conformance_app(tmp_path_factory):
    """Its own database: schemathesis writes freely, and the other tests' tables stay untouched."""
    from tests.api_conformance import build_app

    return build_app("sqlite:///" + str(tmp_path_factory.mktemp("conformance") / "jifen.db"))


@pytest.mark.skipif(bool(PG_URL), reason="runs once per CI run, in the SQLite pass (its own SQLite database)")
@pytest.mark.parametrize("role", ["admin", "villager", "anonymous"])
def test_schemathesis_finds_no_server_error_and_no_conformance_failure(conformance_app, role):
    """A few examples per operation, every check (positive_data_acceptance included: a request that
    fits the document is never a 422), the coverage phase's edge values too; `scripts/schemathesis`
    runs the larger sweep."""
    from tests.api_conformance import run

    app, tokens = conformance_app
    counts = run(app, role, tokens.get(role), max_examples=1, phases=("examples", "coverage", "fuzzing"))
    assert counts.operations > 150
    assert (counts.server_errors, counts.failures, counts.errors) == (0, 0, 0), counts.report()
