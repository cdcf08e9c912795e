"""The hit screen in a moving car, in Chromium against the real daemon: what happens around the officer's
fingers while they verify a hit. A second, more urgent hit arriving mid-verification; a check tapped
twice by a jolt; a unit too busy to answer at once while the screen refreshes under the officer; the
link to the unit dropping and coming back. Each case is a way the officer could lose what they typed,
act on the wrong hit, or record a step twice without knowing it; each is asserted in what SQLite holds
and what the page shows. Taps only (the car's display has no keyboard)."""

from __future__ import annotations

import pytest

from screen_helpers import CarFeed, browser, demo_daemon, login, need_chromium, wait_until  # noqa: F401 (browser: a fixture)

pytestmark = pytest.mark.timeout(240)
LOW = "KLM4821"        # on a priority-60 list loaded below
URGENT = "6TRK915"     # on the demo's priority-10 list
OFFICER = "ofc.ray"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    need_chromium()
    from firmware.hotlist.store import import_hotlist

    d = demo_daemon(tmp_path_factory, "screen-resilience", CarFeed(seed=6))
    content = f"PlateNumber,PlateState,Category\n{LOW},CA,bolo test\n".encode()
    d.unit.writer.call(lambda c: import_hotlist(
        c, content, name="bolo", fmt="csv", mode="replace", list_source="agency", category="bolo test",
        priority=60, alert="audible", at=d.unit.clock.utc(), unit_id="screen-unit", user="test"))
    d.unit.hotlists.refresh()
    yield d
    d.stop()


@pytest.fixture
def page(browser, daemon):
    answer_all(daemon)                 # every test starts with no open hit on the unit
    context = browser.new_context(viewport={"width": 800, "height": 480}, has_touch=True)
    pg = context.new_page()
    yield pg
    context.close()


def answer_all(daemon) -> None:
    """Dispose every open hit as the sergeant would from the bench (the domain function the CLI calls)."""
    from firmware.dispositions import record_disposition

    open_ids = [r[0] for r in daemon.rows("SELECT id FROM hits WHERE disposition IS NULL")]
    for hit_id in open_ids:
        daemon.unit.writer.call(lambda c, h=hit_id: record_disposition(
            c, h, disposition="not_located", user="sgt.sue", at=daemon.unit.clock.utc(), unit_id="screen-unit"))


def tap_text(page, text: str) -> None:
    """Type lower-case `text` on the on-screen keyboard, a key per character."""
    for ch in text:
        page.tap(f"#osk [data-key='{ch}']")


def hit_of(daemon, plate: str) -> str:
    return wait_until(lambda: daemon.rows("SELECT h.id FROM hits h JOIN reads r ON r.id = h.read_id "
                                          "WHERE r.plate = ? AND h.disposition IS NULL", plate), timeout=20)[0][0]


def on_screen(page) -> str:
    """The read plate the hit panel shows (alert or verify layout)."""
    return page.evaluate("""() => {
        const big = document.querySelector('#alert .plate-big'), b = document.querySelector('#alert .verify-cmp b');
        return big ? big.innerText.replace(/\\n/g, '') : b ? b.innerText.split(' ')[0] : '';
    }""")


def open_hit(daemon, page, plate: str) -> str:
    """Log in, a car with `plate` passes, its alert fills the screen with the hit's record loaded."""
    login(page, daemon.url, OFFICER)
    page.wait_for_function("window.__alpr !== undefined && window.__alpr.connected === true", timeout=10_000)
    daemon.drive(plate)
    hit_id = hit_of(daemon, plate)
    page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
    before = page.evaluate("window.__alpr.refreshes")   # a refresh after the hit is stored: the page has its id
    page.wait_for_function(f"window.__alpr.refreshes > {before}", timeout=10_000)
    assert on_screen(page) == plate
    return hit_id


def test_a_more_urgent_hit_waits_while_the_officer_is_verifying(daemon, page):
    """The panel must not switch to another hit under the officer's finger while they verify one: the
    urgent hit is announced and waits; what they typed and where their finger was stay theirs."""
    low = open_hit(daemon, page, LOW)
    page.tap("#verify")
    page.tap("button[data-disposition=other]")        # the note field opens with the keyboard
    tap_text(page, "driver ")
    daemon.drive(URGENT)
    page.wait_for_function("document.getElementById('hit-count').textContent === '2'", timeout=20_000)
    assert on_screen(page) == LOW and page.get_attribute("#alert", "data-mode") == "verify"
    page.wait_for_selector("#urgent-waiting", timeout=5_000)   # told that it waits
    assert page.evaluate("document.activeElement && document.activeElement.id") == "step-note"
    assert page.evaluate("window.__osk.open()")
    tap_text(page, "waved us on")
    page.tap("button[data-disposition=other]")
    wait_until(lambda: daemon.rows("SELECT disposition FROM hits WHERE id = ?", low)[0][0], timeout=10)
    assert daemon.rows("SELECT disposition, note, user FROM hit_dispositions WHERE hit_id = ?", low) == \
        [("other", "driver waved us on", OFFICER)]
    page.wait_for_function(f"document.querySelector('#alert .plate-big') && "
                           f"document.querySelector('#alert .plate-big').innerText.replace(/\\n/g, '') === '{URGENT}'",
                           timeout=10_000)                 # then the urgent one, from its alert
    assert page.locator("#urgent-waiting").count() == 0
