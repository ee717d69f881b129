"""Issue 14 at the store, on 390 px phones in a real Chromium, in standard and in large type: the
villager's own QR code (and jsQR, the counter's fallback decoder, reads the code rendered on that
page), the storekeeper finding the household by the decoded link pasted at the counter and by the
camera (a second Chromium whose fake camera films the villager's code: "Scan" opens the camera, the
code is read off the video and the household comes up), the quantity −/+ buttons, and a phone
order's pickup code shown and checked.

Seeded by `python -m tests.browser.seed_store_orders` (the same services the other tests use)."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.steps import in_type_size, no_horizontal_scroll, ok, run_seed, signed_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinnanqr"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# the page's QR SVG drawn on a canvas, then read with the vendored jsQR (loaded as the scanner does)
DECODE = """async (jsqrUrl) => {
  await new Promise((ok, no) => { const s = document.createElement("script"); s.src = jsqrUrl;
                                  s.onload = ok; s.onerror = no; document.head.appendChild(s); });
  const svg = document.querySelector("#my-qr svg").cloneNode(true);
  svg.setAttribute("width", "360"); svg.setAttribute("height", "360");
  const img = new Image();
  img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(new XMLSerializer().serializeToString(svg));
  await img.decode();
  const canvas = document.createElement("canvas"); canvas.width = 400; canvas.height = 400;
  const ctx = canvas.getContext("2d"); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, 400, 400);
  ctx.drawImage(img, 20, 20, 360, 360);
  const data = ctx.getImageData(0, 0, 400, 400);
  const found = window.jsQR(data.data, 400, 400);
  return found ? found.data : null;
}"""


def _y4m(png: bytes, path) -> None:
    """A one-frame Y4M video (what Chromium's fake camera plays, looped) of the QR code held up in
    front of the camera: 640 x 480, the code 360 px across on white, 4:2:0."""
    frame = Image.new("RGB", (640, 480), "white")
    frame.paste(Image.open(io.BytesIO(png)).convert("RGB").resize((360, 360)), (140, 60))
    y, cb, cr = frame.convert("YCbCr").split()
    with open(path, "wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\nFRAME\n")
        out.write(y.tobytes() + cb.resize((320, 240)).tobytes() + cr.resize((320, 240)).tobytes())


def _scan_with_the_camera(browser, live_server, slug: str, video, large: bool, shot) -> str:
    """The storekeeper taps Scan on a phone whose camera films `video`: the household's page opens."""
    camera = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    try:
        ctx, page = signed_in(camera, live_server, slug, "keeper", PASSWORD, large=large)
        ctx.grant_permissions(["camera"])
        ok(page.goto(f"/t/{slug}/orders/counter"), page)
        assert page.evaluate("'BarcodeDetector' in window") is False  # Linux Chromium: jsQR reads the frames
        with page.expect_navigation(timeout=20_000):
            page.locator("#scan").click()
        assert page.locator("#household").count() == 1 and page.locator("#e-q").count() == 0
        in_type_size(page, large)
        no_horizontal_scroll(page)
        shot(page, "store-qr-02b-counter-found-by-camera")
        return page.locator("#household").inner_text()
    finally:
        camera.close()


def test_my_qr_code_scanned_at_the_counter_and_a_pickup_code(browser, live_server, server_env, type_size,
                                                             tmp_path):
    large, shot = type_size.large, type_size.shot
    slug = type_size.slug(SLUG)
    T = f"/t/{slug}"
    run_seed(server_env, "tests.browser.seed_store_orders", slug, timeout=180)
    vctx, villager = signed_in(browser, live_server, slug, "villager", PASSWORD, large=large)
    kctx, keeper = signed_in(browser, live_server, slug, "keeper", PASSWORD, large=large)
    try:
        # the villager's code: from the store, first asked for, then shown big
        ok(villager.goto(f"{T}/orders/shop"), villager)
        villager.locator("#my-card").click()
        villager.wait_for_url(f"**{T}/orders/my-card*")
        with villager.expect_navigation() as nav:
            villager.locator("#get-code").click()
        ok(nav.value, villager)
        code = villager.locator("#my-code").inner_text().strip()
        assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", code)
        box = villager.locator("#my-qr svg").bounding_box()
        assert box["width"] >= 280  # big enough for a scanner across the counter
        in_type_size(villager, large)
        no_horizontal_scroll(villager)
        shot(villager, "store-qr-01-villager-my-code")
        _y4m(villager.locator("#my-qr svg").screenshot(), tmp_path / "qr.y4m")

        ok(keeper.goto(f"{T}/orders/counter"), keeper)
        jsqr = keeper.locator("[data-scanner]").get_attribute("data-jsqr")
        assert keeper.locator("#scan").is_visible()  # a camera API exists: the scan button is offered
        assert not keeper.locator("#scan-video").is_visible()  # no black box until the camera is asked for
        decoded = villager.evaluate(DECODE, jsqr)
        assert decoded == f"{live_server}{T}/orders/counter?card={code.replace('-', '')}"

        # the storekeeper pastes what a scanner read; the household comes up
        keeper.locator("#f-q").fill(decoded)
        with keeper.expect_navigation() as nav:
            keeper.locator("form.or-find button.primary").click()
        ok(nav.value, keeper)
        assert keeper.locator("#household").count() == 1 and keeper.locator("#e-q").count() == 0
        assert code in keeper.locator("#household").inner_text()
        no_horizontal_scroll(keeper)
        shot(keeper, "store-qr-02-counter-found-by-scan")
        # the camera: the code on the villager's screen, filmed, finds the same household
        assert code in _scan_with_the_camera(browser, live_server, slug, tmp_path / "qr.y4m", large, shot)

        # the villager orders with the − and + buttons and gets a pickup code
        ok(villager.goto(f"{T}/orders/shop"), villager)
        row = villager.locator("li.or-item[data-item='牙膏']")
        plus, minus = row.locator(".or-step button").last, row.locator(".or-step button").first
        plus.click(), plus.click(), plus.click(), minus.click()
        assert row.locator("input.or-qty").input_value() == "2"
        assert plus.bounding_box()["height"] >= 44 and plus.bounding_box()["width"] >= 44
        no_horizontal_scroll(villager)
        shot(villager, "store-qr-03-shop-steppers")
        with villager.expect_navigation() as nav:
            villager.locator("#review").click()
        ok(nav.value, villager)
        with villager.expect_navigation() as nav:
            villager.locator("#confirm").click()
        ok(nav.value, villager)
        pickup = villager.locator("#pickup-code").inner_text().strip()
        assert re.fullmatch(r"\d{4}", pickup)
        no_horizontal_scroll(villager)
        shot(villager, "store-qr-04-order-pickup-code")

        # at the desk: a wrong code is named next to the box, the right one opens the order
        ok(keeper.goto(f"{T}/orders/desk"), keeper)
        keeper.locator("#f-pickup").fill("0000" if pickup != "0000" else "1111")
        with keeper.expect_navigation():
            keeper.locator("#pickup-form button").click()
        assert keeper.locator("#e-pickup_code").is_visible()
        shot(keeper, "store-qr-05-desk-wrong-pickup-code")
        keeper.locator("#f-pickup").fill(pickup)
        with keeper.expect_navigation() as nav:
            keeper.locator("#pickup-form button").click()
        ok(nav.value, keeper)
        assert re.search(rf"{T}/orders/{UUID}", keeper.url)
        assert keeper.locator("#f-pickup").input_value() == pickup
        with keeper.expect_navigation():
            keeper.locator("#hand-over").click()
        assert keeper.locator("#state").get_attribute("class").endswith("or-handed_over")
        in_type_size(keeper, large)
        no_horizontal_scroll(keeper)
        shot(keeper, "store-qr-06-handed-over")
    finally:
        vctx.close()
        kctx.close()
