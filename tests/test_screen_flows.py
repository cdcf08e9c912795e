"""The screen's other paths in Chromium against the real daemon: lockout after five wrong PINs, a
prohibited search purpose refused, a manual entry that then hits, an unanswered hit turning
unacknowledged, the technician's health-only view, and logout."""

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
    d = demo_daemon(tmp_path_factory, "screen-flows", CarFeed(seed=5), alerts={"unacknowledged_after_s": 10})
    yield d
    d.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 800, "height": 480})
    pg = context.new_page()
    yield pg
    context.close()


def test_five_wrong_pins_lock_the_user(daemon, page):
    for _ in range(5):
        login(page, daemon.url, "ofc.lock", pin="0000")
        assert "wrong PIN" in page.inner_text("#login-error")
    login(page, daemon.url, "ofc.lock")                       # the right PIN, too late
    assert "locked" in page.inner_text("#login-error")
    assert page.url.endswith("/login")
    events = [r[0] for r in daemon.rows("SELECT event FROM audit_log WHERE user = 'ofc.lock' ORDER BY seq")]
    assert events == ["login_failed"] * 5 + ["login_locked"]


def test_a_prohibited_search_purpose_is_refused_on_the_screen(daemon, page):
    daemon.drive("KLM4821", seed=4)      # seed 4 draws a NEW YORK header: the read carries a state
    login(page, daemon.url, "ofc.ray")
    page.click("#tabs [data-view=search]")
    page.fill("#search-form [name=purpose]", "traffic enforcement")
    page.fill("#search-form [name=plate]", "KLM4821")
    page.click("#search-form button[type=submit]")
    msg = page.wait_for_selector("#search-msg.bad")
    assert "prohibited" in msg.inner_text()
    assert page.locator("#search-results tr").count() == 0
    refused = daemon.rows("SELECT user, purpose, detail FROM audit_log WHERE event = 'query_refused'")
    assert refused and refused[-1][0] == "ofc.ray" and refused[-1][1] == "traffic enforcement"
    detail = json.loads(refused[-1][2])
    assert detail["action"] == "reads.search" and detail["terms"]["plate"] == "KLM4821"
    page.fill("#search-form [name=purpose]", "criminal investigation")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-msg.good")
    assert "KLM4821" in page.inner_text("#search-results")
    # each row shows the state as stored with the read (a dashed "?" where none was legible), so the
    # officer checks plate and state from the search too
    stored_reads = daemon.rows("SELECT id, state FROM reads WHERE plate = 'KLM4821'")
    assert stored_reads and any(state for _, state in stored_reads)
    for read_id, stored in stored_reads:
        row = page.locator(f'#search-results tr[data-read="{read_id}"]')
        assert row.locator("td.plate-text").inner_text() == "KLM4821"
        assert row.locator("td .st").inner_text() == (stored or "?")
        assert ("unknown" in row.locator("td .st").get_attribute("class")) == (stored is None)
    assert daemon.rows("SELECT count(*) FROM audit_log WHERE event = 'query' AND user = 'ofc.ray'")[0][0] >= 1


def test_a_manual_entry_needs_a_reason_and_then_hits(daemon, page):
    login(page, daemon.url, "ofc.ray")
    page.click("#tabs [data-view=manual]")
    page.fill("#manual-form [name=plate]", "HPX7730")
    page.fill("#manual-form [name=reason]", "   ")
    page.evaluate("document.querySelector('#manual-form [name=reason]').removeAttribute('required')")
    page.click("#manual-form button[type=submit]")
    assert "reason" in page.wait_for_selector("#manual-msg.bad").inner_text()
    page.fill("#manual-form [name=reason]", "armed robbery suspect vehicle, case 26-1142")
    page.click("#manual-form button[type=submit]")
    assert "expires" in page.wait_for_selector("#manual-msg.good").inner_text()
    page.wait_for_selector("#manual-list tr[data-entry]")
    added = daemon.rows("SELECT user, purpose FROM audit_log WHERE event = 'hotlist.manual.add'")
    assert added == [("ofc.ray", "armed robbery suspect vehicle, case 26-1142")]
    page.click("#manual-list tr[data-entry] button")                  # extend, with a justification
    page.fill("#extend-why", "suspect vehicle still sought, case 26-1142 open")
    page.click("#extend-send")
    assert "Extended to" in page.wait_for_selector("#manual-msg.good:has-text('Extended')").inner_text()
    assert daemon.rows("SELECT user, purpose FROM audit_log WHERE event = 'hotlist.manual.extend'") == \
        [("ofc.ray", "suspect vehicle still sought, case 26-1142 open")]
    daemon.drive("HPX7730")
    page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
    assert "manual" in page.inner_text("#alert .facts")
    page.click("#later")


def test_an_unanswered_hit_turns_unacknowledged_and_stays_listed(daemon, page):
    login(page, daemon.url, "ofc.ray")
    read_id = daemon.drive("6TRK915")["read_id"]
    page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
    hit_id = daemon.rows("SELECT id FROM hits WHERE read_id = ?", read_id)[0][0]
    wait_until(lambda: daemon.rows("SELECT unacknowledged_at FROM hits WHERE id = ?", hit_id)[0][0], timeout=40)
    while page.locator("#alert").is_visible():       # put every open hit aside, unanswered
        page.click("#later")
    page.click("#tabs [data-view=hits]")
    row = page.wait_for_selector(f".hit-row[data-status=unacknowledged]:has-text('6TRK915')", timeout=15_000)
    assert "unacknowledged" in row.inner_text()
    assert daemon.rows("SELECT disposition FROM hits WHERE id = ?", hit_id) == [(None,)]   # never auto-rejected
    assert "unacknowledged" in page.inner_text("#unack-note")


def test_a_technician_sees_health_only(daemon, page):
    login(page, daemon.url, "tech.tim")
    page.wait_for_selector("#chips .chip")
    assert page.locator("#tabs [data-view=search]").is_hidden()
    assert page.locator("#reads .read").count() == 0
    cookie = next(c for c in page.context.cookies() if c["name"] == "alpr_screen")
    read_id = daemon.rows("SELECT id FROM reads LIMIT 1")[0][0]
    req = urllib.request.Request(f"{daemon.url}api/reads/{read_id}/crop.jpg",
                                 headers={"Cookie": f"alpr_screen={cookie['value']}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 403


def test_logout_ends_the_session_and_is_audited(daemon, page):
    login(page, daemon.url, "sgt.sue")
    page.wait_for_selector("#chips .chip")           # the state is in: open hits from earlier tests show first
    cookie = next(c for c in page.context.cookies() if c["name"] == "alpr_screen")
    while page.locator("#alert").is_visible():
        page.click("#later")
    page.click("#logout")
    page.wait_for_url("**/login")
    assert daemon.rows("SELECT count(*) FROM audit_log WHERE event = 'logout' AND user = 'sgt.sue'")[0][0] == 1
    req = urllib.request.Request(f"{daemon.url}api/state", headers={"Cookie": f"alpr_screen={cookie['value']}"})
    with pytest.raises(urllib.error.HTTPError) as err:    # the old cookie, replayed
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401


def _load_list(daemon, name: str, plate: str, *, priority: int, alert: str) -> None:
    from firmware.hotlist.store import import_hotlist

    content = f"PlateNumber,PlateState,Category\n{plate},CA,{name} test\n".encode()
    daemon.unit.writer.call(lambda c: import_hotlist(
        c, content, name=name, fmt="csv", mode="replace", list_source="agency", category=f"{name} test",
        priority=priority, alert=alert, at=daemon.unit.clock.utc(), unit_id="screen-unit", user="test"))
    daemon.unit.hotlists.refresh()


def test_hits_queue_by_priority_and_covert_lists_never_show(daemon, page):
    _load_list(daemon, "bolo", "KLM4821", priority=60, alert="audible")
    _load_list(daemon, "covert", "4WDE562", priority=0, alert="silent")
    login(page, daemon.url, "ofc.ray")
    page.wait_for_selector("#chips .chip")
    while page.locator("#alert").is_visible():        # hits from the tests before
        page.click("#later")
    covert = daemon.drive("4WDE562")["read_id"]
    page.wait_for_selector(f".read[data-read='{covert}']", timeout=20_000)
    assert page.locator("#alert").is_hidden()
    assert "HIT" not in page.inner_text(f".read[data-read='{covert}']")
    assert daemon.rows("SELECT list_name FROM hits WHERE read_id = ?", covert) == [("covert",)]   # recorded

    daemon.feed.drive("KLM4821")                      # the low-priority hit first, then the urgent one
    daemon.drive("6TRK915")
    page.wait_for_function("document.querySelector('#alert .queue') && "
                           "document.querySelector('#alert .queue').innerText === '1 of 2'", timeout=20_000)
    assert page.locator("#alert .plate-big").first.inner_text().replace("\n", "") == "6TRK915"
    assert "p-urgent" in page.get_attribute("#alert", "class")
    page.click("#later")
    assert page.locator("#alert .plate-big").first.inner_text().replace("\n", "") == "KLM4821"
    assert "p-medium" in page.get_attribute("#alert", "class")


def test_an_idle_session_ends_and_its_end_is_audited(daemon):
    import time as _time

    from firmware.screen.sessions import Session

    sessions = daemon.unit.screen.sessions
    now = _time.time()
    stale = sessions.issue(Session("idle-test", "ofc.ray", ("officer",), now - 3600, now - sessions.idle_s - 5))
    for _ in range(2):                                # the second attempt finds the session already ended
        req = urllib.request.Request(f"{daemon.url}api/state", headers={"Cookie": f"alpr_screen={stale}"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401
    ends = [json.loads(r[0]) for r in daemon.rows("SELECT detail FROM audit_log WHERE event = 'logout'")]
    assert [e["how"] for e in ends if e["session"] == "idle-test"] == ["idle timeout"]


def test_a_part_out_of_service_is_on_the_banner_until_it_is_back(daemon, page):
    from firmware.retention.maintenance import add_maintenance

    def record(kind: str, text: str) -> None:
        now = daemon.unit.clock.utc()
        daemon.unit.writer.call(lambda c: add_maintenance(c, kind=kind, technician="tech.tim", description=text,
                                                          at=now, recorded_at=now, unit_id="screen-unit",
                                                          component="camera front"))

    record("out_of_service", "lens cracked, replacement ordered")
    login(page, daemon.url, "ofc.ray")
    banner = page.wait_for_selector("#banner [data-source=unit]", timeout=20_000)
    assert "out of service: camera front: lens cracked" in banner.inner_text()
    record("back_in_service", "lens replaced")
    page.wait_for_selector("#banner [data-source=unit]", state="detached", timeout=20_000)
