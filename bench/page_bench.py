#!/usr/bin/env python3
"""Page benchmark: each villager page in headless Chromium on a weak network, cold and warm.

    .venv/bin/python bench/page_bench.py                 # ~3 min, prints the table
    .venv/bin/python bench/page_bench.py --check         # exit 1 if a target is missed
    .venv/bin/python bench/page_bench.py --base-url http://127.0.0.1:5000   # a server already running

What it does (see bench/README.md, "Villager pages on a weak network"):
1. unless --base-url is given, serves the embedded default as ./scripts/serve does (SQLite demo at
   --db, made with `jifen db upgrade` + `jifen demo` when missing; gunicorn, 2 workers x 4 threads);
2. signs in as the demo villager and takes the villager's pages from the home page's links (where
   a link redirects, the page it lands on);
3. for each page, --runs times: a new browser context (empty cache, the session cookie only) with
   Chromium's own throttling over CDP (Network.emulateNetworkConditions: 400 kbps down and up,
   400 ms latency; Emulation.setCPUThrottlingRate 4), opens the page (cold), then opens it again in
   the same context (warm, a repeat visit);
4. reads first paint from the page's performance paint entries and the transferred bytes from
   CDP's Network.loadingFinished (encodedDataLength: headers and body as they went over the wire),
   and prints medians beside the physical floor: two round trips (the page, then its stylesheet)
   plus the cold transfer at 400 kbps. Targets: cold first paint <= 1.3 x floor, warm < 1 s.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TENANT = "longwo"
USERNAME, PASSWORD = "villager-guantian-1", "Longwo-demo-2026"  # jifen demo's villager
RTT_S, KBPS, CPU_SLOWDOWN = 0.4, 400, 4
TARGET_RATIO, TARGET_WARM_S = 1.3, 1.0
SKIP = ("/logout", "/login", "/lang", ".xlsx")  # links of the home page that are not pages to read (a workbook)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def log(msg: str) -> None:
    print(f"[page-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floor_s(transferred: int) -> float:
    """The physical floor: two round trips plus the bytes at the link's rate."""
    return 2 * RTT_S + transferred * 8 / (KBPS * 1000)


# --- the server ---------------------------------------------------------------------------------

def serve(db: Path, port: int) -> subprocess.Popen:
    """The embedded default as ./scripts/serve runs it, on the SQLite demo at `db`."""
    env = dict(os.environ, JIFEN_DATABASE_URL=f"sqlite:///{db}", PYTHONUNBUFFERED="1")
    for name in ("JIFEN_REDIS_URL", "JIFEN_CONFIG_FILE", "JIFEN_ENV"):
        env.pop(name, None)
    bindir = Path(sys.executable).parent
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        log(f"loading the demo into {db} (about a minute)")
        subprocess.run([bindir / "jifen", "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([bindir / "jifen", "demo", "--base-url", f"http://127.0.0.1:{port}"], env=env,
                       check=True, capture_output=True)
    server = subprocess.Popen([bindir / "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                               "--threads", "4", "jifen:create_app()"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
            return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    raise SystemExit("the server did not answer /readyz within 60 s")


# --- the browser --------------------------------------------------------------------------------

@dataclass
class Visit:
    first_paint: float  # seconds from navigation start
    transferred: int  # bytes over the wire, headers included


def throttle(context, page):
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": RTT_S * 1000,
        "downloadThroughput": KBPS * 1000 / 8, "uploadThroughput": KBPS * 1000 / 8})
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    received: list[int] = []
    cdp.on("Network.loadingFinished", lambda e: received.append(int(e["encodedDataLength"])))
    return received


def visit(page, url: str, received: list[int]) -> Visit:
    received.clear()
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)  # the last loadingFinished events arrive just after `load`
    paint = page.evaluate("""() => {
        const e = performance.getEntriesByType('paint');
        const fp = e.find(x => x.name === 'first-paint') || e.find(x => x.name === 'first-contentful-paint');
        return fp ? fp.startTime : null; }""")
    if paint is None:
        raise SystemExit(f"no paint entry for {url}")
    return Visit(paint / 1000, sum(received))


def sign_in(browser, base: str) -> dict:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/t/{TENANT}/login")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_load_state("load")
    if "/login" in page.url:
        raise SystemExit(f"could not sign in as {USERNAME}")
    state = context.storage_state()
    context.close()
    return state


def villager_pages(browser, base: str, state: dict) -> list[tuple[str, str]]:
    """The villager's home and every page it links to in this township (tiles and nav), as
    (link, landing page): a link that redirects (the villager's own ranking, passbook, honours) is
    measured where it lands, and the table marks it (the redirect costs one more round trip)."""
    context = browser.new_context(storage_state=state)
    page = context.new_page()
    home = f"{base}/t/{TENANT}/"
    page.goto(home)
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))")
    links = [f"/t/{TENANT}/"]
    for href in hrefs:
        path = urllib.parse.urlsplit(urllib.parse.urljoin(home, href)).path
        if path.startswith(f"/t/{TENANT}/") and not path.endswith(SKIP) and path not in links:
            links.append(path)
    pages = []
    for link in links:
        page.goto(base + link)
        landing = urllib.parse.urlsplit(page.url)
        pages.append((link, landing.path + (f"?{landing.query}" if landing.query else "")))
    context.close()
    return pages


def measure(browser, base: str, state: dict, path: str, runs: int) -> tuple[list[Visit], list[Visit]]:
    cold, warm = [], []
    for _ in range(runs):
        context = browser.new_context(storage_state=state, viewport={"width": 390, "height": 844})
        page = context.new_page()
        received = throttle(context, page)
        cold.append(visit(page, base + path, received))
        warm.append(visit(page, base + path, received))
        context.close()
    return cold, warm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", help="a running Jifen with the demo loaded (else one is started)")
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "jifen-page-bench" / "demo.db"),
                        help="the SQLite demo database to serve (made when missing)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    server = None
    base = (args.base_url or "").rstrip("/")
    if not base:
        port = free_port()
        server = serve(Path(args.db), port)
        base = f"http://127.0.0.1:{port}"
    rows, missed = [], []
    load_before = os.getloadavg()[0]
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            state = sign_in(browser, base)
            pages = villager_pages(browser, base, state)
            log(f"{len(pages)} pages: {' '.join(landing for _, landing in pages)}")
            for link, path in pages:
                cold, warm = measure(browser, base, state, path, args.runs)
                kb = statistics.median(v.transferred for v in cold)
                fp = statistics.median(v.first_paint for v in cold)
                floor = floor_s(kb)
                warm_fp = statistics.median(v.first_paint for v in warm)
                warm_kb = statistics.median(v.transferred for v in warm)
                shown = link if link == path else f"{link} → {re.sub(UUID, '<id>', path)} (redirect)"
                rows.append((shown, kb, floor, fp, fp / floor, warm_kb, warm_fp))
                log(f"{path}: cold {fp:.2f} s / floor {floor:.2f} s, warm {warm_fp:.2f} s")
                if fp / floor > TARGET_RATIO or warm_fp >= TARGET_WARM_S:
                    missed.append(shown)
            browser.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    print(f"\n400 kbps down/up, {RTT_S * 1000:.0f} ms latency, CPU x{CPU_SLOWDOWN}; medians of {args.runs}; "
          f"targets: cold first paint <= {TARGET_RATIO} x floor, warm < {TARGET_WARM_S:.0f} s; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores)\n")
    print("| page | cold KB | floor s | cold first paint s | ratio | warm KB | warm first paint s |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for path, kb, floor, fp, ratio, warm_kb, warm_fp in rows:
        print(f"| `{path}` | {kb / 1000:.1f} | {floor:.2f} | {fp:.2f} | {ratio:.2f} | {warm_kb / 1000:.1f} | "
              f"{warm_fp:.2f} |")
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
