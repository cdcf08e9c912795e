#!/usr/bin/env python3
"""Screenshots of the officer's screen for docs/screens/: the real daemon on rendered traffic, driven in
Debian's Chromium at 800x480 (day and night) and one 1024x600 alert.

    .venv/bin/python scripts/screenshots.py [--out docs/screens]

Shows: login, live view, a hit of each kind (exact, look-alike, wildcard), the verification steps, the
unacknowledged list and the malfunction banner. Uses the test helpers (tests/screen_helpers.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from screen_helpers import CarFeed, Daemon, install_users, launch_browser, login, wait_until  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screens")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    from firmware.clock import SystemClock
    from firmware.demo import load_demo_hotlist
    from firmware.hotlist.manual import add_manual
    from firmware.storage.db import open_database, transaction

    work = Path(tempfile.mkdtemp(prefix="alpr-screens-"))
    data = work / "data"
    install_users(data)
    clock = SystemClock()
    load_demo_hotlist(data, "screen-unit", clock)
    conn = open_database(data)
    transaction(conn, lambda c: add_manual(c, plate="HPX77*0", state="CA", category="robbery suspect vehicle",
                                           reason="armed robbery 26-1142, witness saw part of the plate",
                                           user="ofc.ray", at=clock.utc(), unit_id="screen-unit", days=30))
    conn.close()
    feed = CarFeed(seed=9)
    daemon = Daemon(data, feed, alerts={"unacknowledged_after_s": 10}).start()
    shots: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page(viewport={"width": 800, "height": 480})

            def shot(name: str, *, size: str = "800x480") -> None:
                page.wait_for_function("Array.from(document.images).every(i => i.complete)")
                for theme in ("day", "night"):
                    page.evaluate(f"document.documentElement.className = 'theme-{theme}'")
                    path = args.out / f"{name}-{size}-{theme}.png"
                    page.screenshot(path=str(path))
                    shots.append(path.name)
                page.evaluate("document.documentElement.className = 'theme-day'")

            page.goto(daemon.url + "login")
            page.fill("#user", "ofc.ray")
            shot("login")
            login(page, daemon.url, "ofc.ray")
            page.wait_for_selector("#chips .chip")
            for plate, seed in (("KLM4821", 3), ("4WDE562", 4), ("7ABC123", 3)):   # seed 4: a state is read
                daemon.drive(plate, seed=seed)
            page.wait_for_selector(".read:has-text('7ABC123')")
            shot("live")

            page.click("#tabs [data-view=search]")                # typing on the on-screen keyboard
            page.click("#search-form [name=purpose]")
            for ch in "criminal inv":
                page.click(f"#osk [data-key='{ch}']")
            shot("keyboard")
            page.click("#osk [data-key=done]")
            page.wait_for_function("!window.__osk.open()")
            page.click("#tabs [data-view=live]")

            for plate, name in (("6TRK915", "hit-exact"), ("BJR2204", "hit-lookalike"), ("HPX7730", "hit-wildcard")):
                daemon.drive(plate)
                page.wait_for_selector(f"#alert[data-key*='|'] .plate-big")
                page.wait_for_function(f"document.querySelector('#alert').dataset.key.includes('{plate[:3]}') || "
                                       f"document.querySelector('#alert .plate-big').innerText.replace(/\\n/g, '') === '{plate}'")
                shot(name)
                if name == "hit-exact":
                    page.set_viewport_size({"width": 1024, "height": 600})
                    shot(name, size="1024x600")
                    page.set_viewport_size({"width": 800, "height": 480})
                if name != "hit-wildcard":
                    page.click("#later")

            page.click("#verify")
            page.click(".step[data-check=plate] button[data-result=match]")
            page.wait_for_selector(".step[data-check=plate] .stamp.done")
            page.click(".step[data-check=state] button[data-result=match]")
            page.wait_for_selector(".step[data-check=state] .stamp.done")
            shot("verify-steps")
            page.click("#later")

            wait_until(lambda: len(daemon.rows("SELECT id FROM hits WHERE unacknowledged_at IS NOT NULL")) >= 2, 60)
            page.click("#tabs [data-view=hits]")
            page.wait_for_selector(".hit-row[data-status=unacknowledged]", timeout=20_000)
            shot("unacknowledged")

            page.click("#tabs [data-view=live]")
            feed.broken = True                                   # the camera cable comes loose
            page.wait_for_selector("#banner [data-source='camera:front']", timeout=30_000)
            shot("banner")
            browser.close()
    finally:
        daemon.stop()
    print("\n".join(shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
