"""The officer's screen by touch alone, in Chromium against the real daemon: every word typed on the
on-screen keyboard (keyboard.js), never with page.fill or a physical keyboard. The car's display has no
keyboard and the kiosk (cage) has no system one, so a form that needs one cannot be used in the car."""

from __future__ import annotations

import pytest

from screen_helpers import PINS, CarFeed, browser, demo_daemon, need_chromium  # noqa: F401 (browser: a fixture)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    need_chromium()
    d = demo_daemon(tmp_path_factory, "screen-keyboard", CarFeed(seed=8))
    yield d
    d.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 800, "height": 480}, has_touch=True)
    pg = context.new_page()
    yield pg
    context.close()


def tap_text(page, text: str) -> None:
    """Type `text` on the on-screen keyboard: a key per character, shift for the other case."""
    for ch in text:
        key = ch.lower()
        if ch.isalpha():
            shown = page.inner_text(f"#osk [data-key='{key}']")
            if shown != ch:
                page.tap("#osk [data-key=shift]")
        page.tap(f"#osk [data-key='{key}']")
        if ch.isalpha() and page.get_attribute("#osk [data-key=shift]", "class") == "on":
            page.tap("#osk [data-key=shift]")


def keyboard_open(page) -> bool:
    return page.evaluate("window.__osk !== undefined && window.__osk.open()")


def keyboard_closes(page) -> bool:
    """It closes a moment after the tap that took the focus away (so the page does not move under the finger)."""
    page.wait_for_function("window.__osk !== undefined && !window.__osk.open()", timeout=5_000)
    return True


def assert_visible_above_keyboard(page, selector: str) -> None:
    """The page scrolls the field into view once the keyboard has taken its room: a moment after the tap
    on a loaded machine, so this waits for it (2 s at most) rather than reading the first frame."""
    try:
        page.wait_for_function("""sel => {
            const el = document.querySelector(sel), osk = document.getElementById("osk");
            if (!el || !osk || osk.hidden) return false;
            const box = el.getBoundingClientRect(), top = osk.getBoundingClientRect().top;
            return box.height > 0 && box.top >= 0 && box.bottom <= top + 0.5;
        }""", arg=selector, timeout=2_000)
    except Exception:
        box = page.locator(selector).bounding_box()
        top = page.locator("#osk").bounding_box()["y"]
        raise AssertionError(f"{selector} is not above the keyboard: {box}, keyboard top {top}") from None


def touch_login(page, url: str, user: str) -> None:
    page.goto(url + "login")
    page.tap("#user")
    assert keyboard_open(page)
    tap_text(page, user)
    page.tap("#pin")                              # the PIN has its own keypad: the keyboard closes
    assert keyboard_closes(page)
    for digit in PINS[user]:
        page.tap(f".keypad [data-key='{digit}']")
    page.tap(".keypad [data-key='✓']")
    page.wait_for_url(url)


def test_login_search_and_manual_entry_by_touch_alone(daemon, page):
    daemon.drive("KVB2716")
    touch_login(page, daemon.url, "ofc.ray")
    assert not keyboard_open(page)                # nothing to type: the live view is whole
    page.tap("#tabs [data-view=search]")

    page.tap("#search-form [name=purpose]")
    assert keyboard_open(page) and not page.is_visible("#tabs")
    tap_text(page, "criminal investigation")
    page.tap("#search-form [name=plate]")
    assert page.inner_text("#osk [data-key=k]") == "K"   # a plate field types capitals
    tap_text(page, "KVB2716")
    assert_visible_above_keyboard(page, "#search-form [name=plate]")
    assert_visible_above_keyboard(page, "#search-form button[type=submit]")
    page.tap("#search-form button[type=submit]")
    page.wait_for_selector("#search-msg.good")
    assert "KVB2716" in page.inner_text("#search-results")
    logged = daemon.rows("SELECT user, purpose, detail FROM audit_log WHERE event = 'query' ORDER BY seq")
    assert logged[-1][0] == "ofc.ray" and logged[-1][1] == "criminal investigation" and "KVB2716" in logged[-1][2]

    assert keyboard_closes(page) and page.is_visible("#tabs")   # the button took the focus: results in full
    page.tap("#tabs [data-view=manual]")
    page.tap("#manual-form [name=plate]")
    tap_text(page, "HQX4410")
    page.tap("#osk [data-key=back]")              # a slip corrected
    tap_text(page, "1")
    page.tap("#manual-form [name=reason]")
    tap_text(page, "stolen vehicle report, case 26-2210")
    assert_visible_above_keyboard(page, "#manual-form button[type=submit]")
    page.tap("#manual-form button[type=submit]")
    page.wait_for_selector("#manual-msg.good, #manual-msg.bad")
    assert "expires" in page.inner_text("#manual-msg.good"), page.inner_text("#manual-msg")
    assert daemon.rows("SELECT user, purpose FROM audit_log WHERE event = 'hotlist.manual.add'") == \
        [("ofc.ray", "stolen vehicle report, case 26-2210")]
    assert ("HQX4411",) in daemon.rows("SELECT plate FROM hotlist_entries WHERE added_by = 'ofc.ray'")

    page.tap("#manual-list tr[data-entry] button")   # extend: the justification is typed in the page
    assert keyboard_open(page)
    tap_text(page, "suspect still sought")
    assert_visible_above_keyboard(page, "#extend-send")
    page.tap("#extend-send")
    page.wait_for_selector("#manual-msg.good:has-text('Extended')")
    assert daemon.rows("SELECT purpose FROM audit_log WHERE event = 'hotlist.manual.extend'") == \
        [("suspect still sought",)]


def test_the_keyboard_respects_a_fields_length_and_number_fields(daemon, page):
    touch_login(page, daemon.url, "sgt.sue")
    page.tap("#tabs [data-view=manual]")
    page.tap("#manual-form [name=state]")         # maxlength 3
    tap_text(page, "NYCA")
    assert page.input_value("#manual-form [name=state]") == "NYC"
    page.tap("#manual-form [name=days]")          # a number field: digits appended, backspace works
    for _ in range(2):
        page.tap("#osk [data-key=back]")
    tap_text(page, "14")
    assert page.input_value("#manual-form [name=days]") == "14"
    page.tap("#osk [data-key=done]")
    assert keyboard_closes(page) and page.is_visible("#tabs")
    page.tap("#manual-form [name=plate]")         # a field touched again opens it again
    assert keyboard_open(page)


def test_a_hit_disposition_that_needs_a_note_is_typed_on_the_keyboard(daemon, page):
    touch_login(page, daemon.url, "ofc.ray")
    daemon.drive("6TRK915")                       # on the demo hotlist
    page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
    page.tap("#verify")
    page.tap("button[data-disposition=other]")    # needs a note: the note field opens with the keyboard
    assert keyboard_open(page)
    assert_visible_above_keyboard(page, "#step-note")
    assert_visible_above_keyboard(page, "button[data-disposition=other]")
    tap_text(page, "plate obscured by a bike rack")
    page.tap("button[data-disposition=other]")
    page.wait_for_selector("#alert", state="hidden", timeout=20_000)
    assert daemon.rows("SELECT disposition, note, user FROM hit_dispositions") == \
        [("other", "plate obscured by a bike rack", "ofc.ray")]


def test_a_note_being_typed_survives_the_screen_refreshing_under_it(daemon, page):
    """The screen redraws the alert on every refresh (each 5 s, and on each hit change); an officer typing
    a note by touch takes longer than that. The redraw must keep the field, its focus (so the keyboard
    stays up), what was typed and where the caret is."""
    touch_login(page, daemon.url, "ofc.ray")
    daemon.drive("6TRK915")
    page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
    page.tap("#verify")
    page.tap("button[data-disposition=other]")
    tap_text(page, "plate hidden ")
    before = page.evaluate("window.__alpr.refreshes")
    page.wait_for_function(f"window.__alpr.refreshes > {before}", timeout=15_000)
    assert keyboard_open(page)
    assert page.evaluate("document.activeElement.id") == "step-note"
    assert_visible_above_keyboard(page, "#step-note")
    tap_text(page, "by a rack")
    page.tap("button[data-disposition=other]")
    page.wait_for_selector("#alert", state="hidden", timeout=20_000)
    assert ("other", "plate hidden by a rack", "ofc.ray") in \
        daemon.rows("SELECT disposition, note, user FROM hit_dispositions")
