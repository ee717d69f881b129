"""Issue 14: a public notice or honour wall shared in a chat shows a card (title, description,
image tags), and their printed A4 versions carry a QR code that opens the page."""
from __future__ import annotations

import html as htmllib
import re

from jifen.platform.qr import qr_svg
from tests.test_honours import PAGES as HONOURS
from tests.test_honours import _wall
from tests.test_notices_pages import on_notice

META_RE = re.compile(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">')


def metas(page: str) -> dict:
    return {k: htmllib.unescape(v) for k, v in META_RE.findall(page)}


def test_the_public_notice_has_share_tags_and_its_print_a_qr_code(client, app, world, pw):
    _app_id, _nid, token, closes_on = on_notice(app, world, pw)
    url = f"http://jifen.test/t/alpha/notices/public/{token}"
    tags = metas(client.get(f"/t/alpha/notices/public/{token}").get_data(as_text=True))
    assert "官田村" in tags["og:title"] and "积分公示" in tags["og:title"]
    assert closes_on.isoformat() in tags["og:description"] and "共1项" in tags["og:description"]
    assert tags["og:url"] == url and tags["description"] == tags["og:description"]
    assert re.fullmatch(r"http://jifen\.test/static/share\.png(\?v=\w+)?", tags["og:image"])
    assert "张三伟" not in str(tags)  # the card names nobody
    image = client.get(tags["og:image"].removeprefix("http://jifen.test"))
    assert image.status_code == 200 and image.mimetype == "image/png"
    printed = client.get(f"/t/alpha/notices/public/{token}/print").get_data(as_text=True)
    assert 'id="print-qr"' in printed and qr_svg(url) in printed


def test_the_honour_wall_has_share_tags_and_its_poster_a_qr_code(app, world, pw):
    _ids, token = _wall(app, world, pw)
    anyone = app.test_client()
    url = f"http://jifen.test{HONOURS}/wall/{token}"
    tags = metas(anyone.get(f"{HONOURS}/wall/{token}").get_data(as_text=True))
    assert "荣誉墙" in tags["og:title"] and "官田村" in tags["og:title"]
    assert "安*" in tags["og:description"] and "安明" not in tags["og:description"]  # masked as on the wall
    assert tags["og:url"] == url and tags["og:image"].startswith("http://jifen.test/static/share.png")
    poster = anyone.get(f"{HONOURS}/wall/{token}/print").get_data(as_text=True)
    assert 'id="print-qr"' in poster and qr_svg(url) in poster
    en = app.test_client()
    with en.session_transaction() as s:
        s["lang"] = "en"
    assert "Honour wall" in metas(en.get(f"{HONOURS}/wall/{token}").get_data(as_text=True))["og:title"]
