"""Issue 14 at the store, on 390 px phones in a real Chromium: the villager's own QR code (and jsQR,
the counter's fallback decoder, reads the code rendered on that page), the storekeeper finding the
household by the decoded link pasted at the counter (a fake camera is not worth it: the scanner only
fills the same box), the quantity −/+ buttons, and a phone order's pickup code shown and checked.

Seeded by `python -m tests.browser.seed_store_orders` (the same services the other tests use)."""
from __future__ import annotations

import re

import pytest

from tests.browser.steps import no_horizontal_scroll, ok, run_seed, signed_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SLUG = "qinnanqr"
T = f"/t/{SLUG}"
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


def test_my_qr_code_scanned_at_the_counter_and_a_pickup_code(browser, live_server, server_env, shot):
    run_seed(server_env, "tests.browser.seed_store_orders", SLUG, timeout=180)
    vctx, villager = signed_in(browser, live_server, SLUG, "villager", PASSWORD)
    kctx, keeper = signed_in(browser, live_server, SLUG, "keeper", PASSWORD)
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
        no_horizontal_scroll(villager)
        shot(villager, "store-qr-01-villager-my-code")

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
        no_horizontal_scroll(keeper)
        shot(keeper, "store-qr-06-handed-over")
    finally:
        vctx.close()
        kctx.close()
