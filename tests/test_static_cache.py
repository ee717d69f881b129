"""Issue 14, pages on a weak network: what the app itself answers when no nginx is in front (the
embedded default). Compressed when the browser asks and only then; static files cached a year
only under the URL of their own content; per-user pages and API answers never kept by anyone."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import brotli
from flask import Flask, url_for

from jifen.platform import static_version
from tests.conftest import api_token, bearer, page_login

STATIC = Path(__file__).resolve().parent.parent / "jifen" / "static"
CSS = (STATIC / "jifen.css").read_bytes()
CSS_V = hashlib.sha256(CSS).hexdigest()[:12]


def test_a_page_is_gzipped_when_asked_and_plain_when_not_and_never_kept_publicly(app, world):
    client = app.test_client()
    assert page_login(client, "alpha", "admin").status_code == 302
    plain = client.get("/t/alpha/")
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert plain.get_data(as_text=True).startswith("<!doctype html>")
    zipped = client.get("/t/alpha/", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    page = gzip.decompress(zipped.data).decode()
    assert page.startswith("<!doctype html>") and "龙窝镇" in page
    assert len(zipped.data) < len(page.encode()) / 2
    for resp in (plain, zipped):  # one person's page: not in a shared cache, not on the back button
        assert resp.headers["Cache-Control"] == "no-store"
    br = client.get("/t/alpha/", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert br.headers["Content-Encoding"] == "br" and brotli.decompress(br.data).decode().startswith("<!doctype")
    only_identity = client.get("/t/alpha/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in only_identity.headers


def test_api_json_is_compressed_too(app, world):
    client = app.test_client()
    token = api_token(client, "alpha", "admin")
    resp = client.get("/api/v1/t/alpha/grid/nodes", headers={**bearer(token), "Accept-Encoding": "gzip"})
    assert resp.status_code == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "官田村" in json.dumps(json.loads(gzip.decompress(resp.data)), ensure_ascii=False)
    small = client.get("/api/v1/t/alpha/villages/", headers={**bearer(token), "Accept-Encoding": "gzip"})
    assert small.status_code == 200 and len(small.data) < 500  # below the size worth a gzip header
    assert "Content-Encoding" not in small.headers and json.loads(small.data)
    spec = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert spec.headers["Content-Encoding"] == "gzip" and json.loads(gzip.decompress(spec.data))["paths"]


def test_a_static_file_is_kept_a_year_only_under_its_own_hash(app):
    client = app.test_client()
    with app.test_request_context("/"):
        assert url_for("static", filename="jifen.css").endswith(f"/static/jifen.css?v={CSS_V}")
    right = client.get(f"/static/jifen.css?v={CSS_V}", headers={"Accept-Encoding": "gzip"})
    assert right.status_code == 200 and right.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert right.headers["Content-Encoding"] == "gzip" and gzip.decompress(right.data) == CSS
    assert len(right.data) < len(CSS) / 3
    right.close()
    wrong = client.get("/static/jifen.css?v=0123456789ab")  # another release's file: ask again next time
    assert wrong.status_code == 200 and wrong.headers["Cache-Control"] == "no-cache"
    assert "Content-Encoding" not in wrong.headers and wrong.data == CSS
    wrong.close()
    bare = client.get("/static/jifen.css")
    assert bare.headers["Cache-Control"] == "public, max-age=3600"  # as nginx answers it
    bare.close()


def test_a_compressed_static_file_revalidates_to_304(app):
    client = app.test_client()
    first = client.get("/static/jifen.css?v=0123456789ab", headers={"Accept-Encoding": "gzip"})
    etag = first.headers["ETag"]
    assert etag.endswith(':gzip"')  # the compressed body is another representation
    first.close()
    again = client.get("/static/jifen.css?v=0123456789ab",
                       headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304 and not again.data


def test_a_range_of_a_static_file_is_sent_as_it_is(app):
    client = app.test_client()
    part = client.get(f"/static/jifen.css?v={CSS_V}", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-1999"})
    assert part.status_code == 206 and "Content-Encoding" not in part.headers
    assert part.data == CSS[:2000] and part.headers["Content-Range"] == f"bytes 0-1999/{len(CSS)}"
    part.close()


def test_a_changed_file_gets_a_new_url(tmp_path):
    """The URL is made from the content: a release that changes a file changes its URL, so a year's
    cache never keeps yesterday's file. (A process reads each file's hash once, as a release does.)"""
    (tmp_path / "site.css").write_text("body { color: black }")

    def url_in_a_new_process() -> str:
        bare = Flask(__name__, static_folder=str(tmp_path), static_url_path="/static")
        static_version.init_app(bare)
        with bare.test_request_context("/"):
            return url_for("static", filename="site.css")

    before = url_in_a_new_process()
    assert url_in_a_new_process() == before
    (tmp_path / "site.css").write_text("body { color: navy }")
    after = url_in_a_new_process()
    assert after != before and after.startswith("/static/site.css?v=")
    bare = Flask(__name__, static_folder=str(tmp_path), static_url_path="/static")
    static_version.init_app(bare)
    with bare.app_context():
        assert static_version.cache_control("site.css", after.rsplit("=", 1)[1]) == static_version.VERSIONED
        assert static_version.cache_control("site.css", before.rsplit("=", 1)[1]) == static_version.MISMATCHED
        assert static_version.cache_control("site.css", None) == static_version.UNVERSIONED
