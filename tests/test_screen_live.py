"""The officer's screen in Debian's Chromium against the real daemon: login, live reads, a hit that fills
the screen, the three checks and a confirmation recorded in SQLite, the audit log and the outbox."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from screen_helpers import CarFeed, browser, demo_daemon, login, need_chromium, wait_until  # noqa: F401 (browser: a fixture)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    need_chromium()
    d = demo_daemon(tmp_path_factory, "screen-live", CarFeed())
    yield d
    d.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 800, "height": 480})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, errors


def status_of(url: str, method: str = "GET", cookie: str | None = None, body: bytes | None = None) -> int:
    req = urllib.request.Request(url, method=method, data=body, headers={"Content-Type": "application/json",
                                                                         **({"Cookie": cookie} if cookie else {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_every_data_endpoint_refuses_without_a_session(daemon):
    base = daemon.url
    read_id = daemon.drive("KLM4821")["read_id"]
    for path in ("api/state", "api/events", f"api/reads/{read_id}/crop.jpg", f"api/reads/{read_id}/hits",
                 "api/hits/0000", "api/manual"):
        assert status_of(base + path) == 401, path
        assert status_of(base + path, cookie="alpr_screen=e30.forged") == 401, path
    for path in ("api/search", "api/manual", "api/hits/0000/check", "api/touch"):
        assert status_of(base + path, "POST", body=b"{}") == 401, path
    assert status_of(base + "static/screen.js") == 200          # code, no data


def test_login_on_the_keypad_shows_live_reads_and_status(daemon, page):
    page.goto(daemon.url)
    assert page.url.endswith("/login")
    page.fill("#user", "ofc.ray")
    page.click("#pin")
    for key in "1357":                               # the PIN typed on the touch keypad
        page.click(f".keypad button[data-key='{key}']")
    page.click(".keypad button[data-key='✓']")
    page.wait_for_selector("#chips .chip")
    assert page.inner_text("#who") == "ofc.ray"
    chips = page.inner_text("#chips")
    assert "CAM front" in chips and "GPS OK" in chips and "LIST " in chips
    daemon.drive("4WDE562")
    card = page.wait_for_selector(".read:has-text('4WDE562')", timeout=20_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=card.query_selector("img"),
                           timeout=10_000)  # the crop is fetched after the card is drawn
    rows = daemon.rows("SELECT user, event FROM audit_log WHERE event = 'login_ok'")
    assert ("ofc.ray", "login_ok") in rows


def test_a_live_card_shows_the_state_read_or_that_none_was(daemon, page):
    login(page, daemon.url, "ofc.ray")
    page.wait_for_function("window.__alpr !== undefined && window.__alpr.connected === true")
    shown = {}
    for plate, seed in (("TXS4824", 4), ("QRT5173", 3)):    # seed 4 draws a NEW YORK header, seed 3 none
        read_id = daemon.drive(plate, seed=seed)["read_id"]
        (stored,) = daemon.rows("SELECT state FROM reads WHERE id = ?", read_id)
        box = page.wait_for_selector(f".read[data-read='{read_id}'] .plate-line .st", timeout=20_000)
        shown[plate] = (stored[0], box.inner_text(), box.get_attribute("class"), box.get_attribute("title"))
    state, text, cls, title = shown["TXS4824"]
    assert state is not None and len(state) == 2                    # the header's words were read
    assert (text, cls, title) == (state, "st", "state read")
    state, text, cls, title = shown["QRT5173"]
    assert state is None and (text, cls, title) == ("?", "st unknown", "state not read")   # as the hit screen
    assert page.inner_text(f".read[data-read='{read_id}'] .plate-text") == "QRT5173"


def test_a_hit_fills_the_screen_and_the_officer_verifies_and_confirms(daemon, page):
    login(page, daemon.url, "ofc.ray")
    page.wait_for_selector("#chips .chip")
    read_id = daemon.drive("6TRK915")["read_id"]
    alert = page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
    box = alert.bounding_box()
    assert box["width"] == 800 and box["height"] == 480                     # the whole screen
    text = page.inner_text("#alert")
    assert "A hit is not confirmation" in text and "Exact match" in text and "V123456789" in text  # NCIC number
    assert page.locator("#alert .plate-big").first.inner_text().replace("\n", "") == "6TRK915"
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=page.locator("#alert img.crop").first.element_handle(), timeout=10_000)
    small = page.evaluate("""() => Array.from(document.querySelectorAll('#alert button')).map(b => b.getBoundingClientRect())
        .filter(r => r.width < 48 || r.height < 48).length""")
    assert small == 0                                                        # touch targets
    page.click("#verify")
    small = page.evaluate("""() => Array.from(document.querySelectorAll('#alert button')).map(b => b.getBoundingClientRect())
        .filter(r => r.width < 48 || r.height < 48 || r.bottom > 480).length""")
    assert small == 0                                   # every step and disposition on screen, touch-sized
    for check, result in (("plate", "match"), ("state", "match"), ("dispatch", "confirmed")):
        page.click(f".step[data-check={check}] button[data-result={result}]")
        page.wait_for_selector(f".step[data-check={check}] .stamp.done")
    assert "by ofc.ray" in page.inner_text(".step[data-check=dispatch] .stamp")
    page.click("button[data-disposition=confirmed_stop]")
    page.wait_for_selector("#alert", state="hidden")

    hit_id = daemon.rows("SELECT id FROM hits WHERE read_id = ?", read_id)[0][0]
    checks = daemon.rows("SELECT check_name, result, user FROM hit_checks WHERE hit_id = ? ORDER BY at", hit_id)
    assert checks == [("plate", "match", "ofc.ray"), ("state", "match", "ofc.ray"), ("dispatch", "confirmed", "ofc.ray")]
    assert daemon.rows("SELECT disposition, kind, user FROM hit_dispositions WHERE hit_id = ?", hit_id) == \
        [("confirmed_stop", "confirm", "ofc.ray")]
    audited = [r[0] for r in daemon.rows("SELECT event FROM audit_log WHERE detail LIKE ? ORDER BY seq", f"%{hit_id}%")]
    assert audited.count("hit_check") == 3 and audited.count("hit_disposition") == 1
    queued = daemon.rows("SELECT payload FROM outbox WHERE kind = 'disposition' AND record_id LIKE ?", f"{hit_id}%")
    types = sorted(json.loads(p[0])["type"] for p in queued)
    assert types == ["check", "check", "check", "disposition"]


def test_a_confirmed_hit_gets_its_outcome_and_a_supervisor_amends_with_a_reason(daemon, page):
    hit_id = daemon.rows("SELECT hit_id FROM hit_dispositions WHERE disposition = 'confirmed_stop'")[0][0]
    login(page, daemon.url, "sgt.sue")
    page.wait_for_selector("#chips .chip")
    page.click("#tabs [data-view=hits]")
    row = page.wait_for_selector(f".hit-row[data-hit='{hit_id}']")
    row.query_selector("button[data-outcome=recovery]").click()
    wait_until(lambda: daemon.rows("SELECT outcome, user FROM hit_outcomes WHERE hit_id = ?", hit_id))
    assert daemon.rows("SELECT outcome, user FROM hit_outcomes WHERE hit_id = ?", hit_id) == [("recovery", "sgt.sue")]
    page.wait_for_selector(f".hit-row[data-hit='{hit_id}'] .grow:has-text('recovery')")   # and the list says so

    page.click(f".hit-row[data-hit='{hit_id}'] button[data-amend]")
    page.click("button[data-disposition=confirmed_no_action]")
    assert "reason" in page.wait_for_selector("#step-msg.bad").inner_text().lower() or \
        page.locator("#step-note").is_visible()
    page.fill("#step-note", "vehicle released after the stop, no arrest")
    page.click("button[data-disposition=confirmed_no_action]")
    page.wait_for_selector("#alert", state="hidden")
    history = daemon.rows("SELECT disposition, user, amend_reason FROM hit_dispositions WHERE hit_id = ? ORDER BY at",
                          hit_id)
    assert history == [("confirmed_stop", "ofc.ray", None),
                       ("confirmed_no_action", "sgt.sue", "vehicle released after the stop, no arrest")]
