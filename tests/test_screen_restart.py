"""The page open across a daemon restart: it says the connection is lost, reconnects by itself, keeps the
officer's session (the session key is on the unit's disk) and shows the next hit. The restarted daemon
is configured with a buzzer that is not there: the banner names it."""

from __future__ import annotations

import socket

import pytest

from screen_helpers import CarFeed, Daemon, install_users, launch_browser, login, need_chromium

pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_page_recovers_after_a_daemon_restart_and_names_the_missing_buzzer(tmp_path):
    need_chromium()
    from playwright.sync_api import sync_playwright

    from firmware.clock import SystemClock
    from firmware.demo import load_demo_hotlist

    data = tmp_path / "data"
    install_users(data)
    load_demo_hotlist(data, "screen-unit", SystemClock())
    listen = {"listen": f"127.0.0.1:{free_port()}"}
    first = Daemon(data, CarFeed(), screen=listen).start()
    second = None
    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 480})
            login(page, first.url, "ofc.ray")
            page.wait_for_function("window.__alpr !== undefined && window.__alpr.connected === true")  # the script may not have run yet
            assert page.locator("#banner").is_hidden()
            first.stop()
            page.wait_for_selector("#conn", state="visible", timeout=20_000)   # the officer is told

            second = Daemon(data, CarFeed(seed=4), screen=listen, alerts={"sinks": ["recording", "gpio"]}).start()
            page.wait_for_function("window.__alpr !== undefined && window.__alpr.connected === true && window.__alpr.restarts >= 1",
                                   timeout=30_000)
            assert page.url.rstrip("/") == second.url.rstrip("/")             # no login page in between
            banner = page.wait_for_selector("#banner [data-source='alert:gpio']", timeout=20_000)
            assert "Alert output gpio failed" in banner.inner_text()
            assert "critical" in page.get_attribute("#banner", "class")

            second.drive("6TRK915")
            page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
            assert "6TRK915" == page.locator("#alert .plate-big").first.inner_text().replace("\n", "")
        finally:
            browser.close()
            if second is not None:
                second.stop()
