"""Bad input against the real screen (the running daemon, its SQLite and its signed sessions), over plain
HTTP: every case gets a clear 4xx with words for the officer, never a 500 or a traceback, and writes
nothing but the audit entries the access rule asks for.

FIXED: each case failed before its fix (a 500, a 200 with nothing found, or an unaudited refusal).
PINNED: right behaviours that held already and must keep holding (wrong method, junk body, forged or
missing cookie, SQL in an id, the double submit of a disposition).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse

import pytest

from screen_helpers import PINS, CarFeed, demo_daemon

pytestmark = pytest.mark.timeout(120)

WRITTEN = ("audit_log", "hit_checks", "hit_dispositions", "hit_outcomes", "hotlist_entries")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NON_ASCII_COOKIE = "alpr_screen=abc.\xe9\xe9"          # a cookie the unit never issued, with Latin-1 bytes
GOOD_REASON = "armed robbery suspect vehicle, case 26-1142"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = demo_daemon(tmp_path_factory, "screen-bad-input", CarFeed(seed=5))
    d.read_id = d.drive("6TRK915")["read_id"]
    d.hit_id = d.rows("SELECT id FROM hits WHERE read_id = ?", d.read_id)[0][0]
    d.cookies = {user: _login(d, user) for user in ("ofc.ray", "tech.tim")}
    yield d
    d.stop()


def _request(d, method: str, path: str, body=None, headers=None, user: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", d.unit.screen.port, timeout=30)
    headers = dict(headers or {})
    if user:
        headers["Cookie"] = f"alpr_screen={d.cookies[user]}"
    if isinstance(body, (dict, list)):
        body, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif isinstance(body, str):
        body = body.encode()
    encoded = {k: v.encode("latin-1") for k, v in headers.items()}   # a header may carry any Latin-1 byte
    try:
        conn.request(method, path, body=body, headers=encoded)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _login(d, user: str) -> str:
    status, headers, _ = _request(d, "POST", "/login", urllib.parse.urlencode({"user": user, "pin": PINS[user]}),
                                  FORM)
    assert status == 303
    return headers["set-cookie"].split("alpr_screen=")[1].split(";")[0]


def _counts(d) -> dict[str, int]:
    return {table: d.rows(f"SELECT count(*) FROM {table}")[0][0] for table in WRITTEN}


# (id, user, method, path, body, headers, status, words in the body, audit entries the case adds)
FIXED = [
    ("non-ascii cookie, api", None, "GET", "/api/state", None, {"Cookie": NON_ASCII_COOKIE}, 401, "forged", 0),
    ("non-ascii cookie, page", None, "GET", "/", None, {"Cookie": NON_ASCII_COOKIE}, 303, "", 0),
    ("non-ascii cookie, logout", None, "POST", "/logout", None, {"Cookie": NON_ASCII_COOKIE}, 303, "", 0),
    ("login form of 20 fields", None, "POST", "/login", "&".join(f"f{i}=1" for i in range(20)), FORM, 400,
     "could not be read", 0),
    ("json nested past the parser", "ofc.ray", "POST", "/api/hits/{hit}/check", "[" * 100_000 + "]" * 100_000,
     {"Content-Type": "application/json"}, 400, "must be JSON", 0),
    ("check note a number", "ofc.ray", "POST", "/api/hits/{hit}/check",
     {"check": "plate", "result": "match", "note": 5}, None, 422, "note must be text", 0),
    ("check name a list", "ofc.ray", "POST", "/api/hits/{hit}/check", {"check": ["plate"], "result": "match"},
     None, 422, "check must be text", 0),
    ("disposition note a list", "ofc.ray", "POST", "/api/hits/{hit}/disposition",
     {"disposition": "other", "note": ["why"]}, None, 422, "note must be text", 0),
    ("manual days Infinity", "ofc.ray", "POST", "/api/manual",
     '{"plate": "HPX7730", "reason": "%s", "days": 1e999}' % GOOD_REASON, None, 422, "days must be a whole", 0),
    ("manual days a list", "ofc.ray", "POST", "/api/manual", {"plate": "HPX7730", "reason": GOOD_REASON,
                                                              "days": [5]}, None, 422, "days must be a whole", 0),
    ("manual state a list", "ofc.ray", "POST", "/api/manual", {"plate": "HPX7730", "reason": GOOD_REASON,
                                                               "state": ["CA"]}, None, 422, "state must be text", 0),
    ("manual category an object", "ofc.ray", "POST", "/api/manual",
     {"plate": "HPX7730", "reason": GOOD_REASON, "category": {"a": 1}}, None, 422, "category must be text", 0),
    ("extend days Infinity", "ofc.ray", "POST", "/api/manual/1/extend",
     '{"days": Infinity, "justification": "suspect vehicle still sought"}', None, 422, "days must be a whole", 0),
    ("search from a number", "ofc.ray", "POST", "/api/search",
     {"purpose": "criminal investigation", "from": 5}, None, 422, "from must be text", 0),
    ("search from without a time zone", "ofc.ray", "POST", "/api/search",
     {"purpose": "criminal investigation", "from": "2026-01-01T00:00:00"}, None, 422, "from: give a time zone", 0),
    ("search from before year 1 in UTC", "ofc.ray", "POST", "/api/search",
     {"purpose": "criminal investigation", "from": "0001-01-01T00:00:00+01:00"}, None, 422, "from: out of range", 0),
    ("search to not a time", "ofc.ray", "POST", "/api/search",
     {"purpose": "criminal investigation", "to": "yesterday"}, None, 422, "to: not a date (YYYY-MM-DD) or an ISO time", 0),
    ("search plate a list", "ofc.ray", "POST", "/api/search",
     {"purpose": "criminal investigation", "plate": ["6TRK915"]}, None, 422, "plate must be text", 0),
    ("search case number an object", "ofc.ray", "POST", "/api/search",
     {"purpose": "criminal investigation", "case_number": {"a": 1}}, None, 422, "case_number must be text", 0),
    ("unknown hit id", "ofc.ray", "GET", "/api/hits/no-such-hit", None, None, 404, "no hit no-such-hit", 0),
    ("SQL in a hit id", "ofc.ray", "GET", "/api/hits/'%20OR%201=1--", None, None, 404, "no hit", 0),
    ("a read's id as a hit id", "ofc.ray", "GET", "/api/hits/{read}", None, None, 404, "no hit", 0),
    ("technician records a check", "tech.tim", "POST", "/api/hits/{hit}/check",
     {"check": "plate", "result": "match"}, None, 403, "may not do this (hits.verify)", 1),
    ("manual entry reason of 740 characters", "ofc.ray", "POST", "/api/manual",
     {"plate": "HPX7730", "reason": "robbery suspect vehicle, case 26-77; " * 20}, None, 422,
     "the reason is over 500 characters", 1),
    ("technician adds a manual entry", "tech.tim", "POST", "/api/manual",
     {"plate": "HPX7730", "reason": GOOD_REASON}, None, 403, "may not do this (hotlist.manual_add)", 1),
    ("technician extends an entry", "tech.tim", "POST", "/api/manual/1/extend",
     {"days": 5, "justification": "suspect vehicle still sought"}, None, 403, "(hotlist.manual_extend)", 1),
    ("technician searches", "tech.tim", "POST", "/api/search", {"purpose": "criminal investigation"}, None, 403,
     "may not do this (reads.search)", 1),
    # another site's page posting with the officer's cookie (the cookie is SameSite=strict; this is the
    # second line): refused before any handler, so nothing is written or audited
    ("a manual entry from another site's page", "ofc.ray", "POST", "/api/manual",
     {"plate": "HPX7730", "reason": GOOD_REASON}, {"Origin": "http://evil.example"}, 403, "another site", 0),
    ("a disposition from another port", "ofc.ray", "POST", "/api/hits/{hit}/disposition",
     {"disposition": "misread"}, {"Origin": "http://127.0.0.1:1"}, 403, "another site", 0),
    ("a login from another site's page", None, "POST", "/login", "user=ofc.ray&pin=1234",
     {**FORM, "Origin": "http://evil.example"}, 403, "another site", 0),
]

PINNED = [
    ("no cookie", None, "GET", "/api/state", None, None, 401, "log in first (missing)", 0),
    ("forged cookie", None, "GET", "/api/state", None, {"Cookie": "alpr_screen=e30.AAAA"}, 401, "forged", 0),
    ("body not UTF-8", "ofc.ray", "POST", "/api/hits/{hit}/check", b"\xff\xfe\x00", {"Content-Type": "application/json"},
     400, "must be JSON", 0),
    ("body a JSON list", "ofc.ray", "POST", "/api/search", [1], None, 400, "must be a JSON object", 0),
    ("form sent as JSON", "ofc.ray", "POST", "/api/manual", "plate=HPX7730", FORM, 400, "must be JSON", 0),
    ("GET on an action", "ofc.ray", "GET", "/api/hits/{hit}/check", None, None, 405, "Method Not Allowed", 0),
    ("unknown step", "ofc.ray", "POST", "/api/hits/{hit}/explode", {}, None, 422, "unknown step", 0),
    ("path in an image id", "ofc.ray", "GET", "/api/reads/..%2F..%2Fscreen-session.key/crop.jpg", None, None, 404,
     "", 0),
    ("manual entry id not a number", "ofc.ray", "POST", "/api/manual/abc/extend", {"days": 5}, None, 404,
     "Not Found", 0),
    ("NUL in a manual plate", "ofc.ray", "POST", "/api/manual", {"plate": "HPX\x007730", "reason": GOOD_REASON},
     None, 422, "plate refused", 1),
    ("extend days NaN", "ofc.ray", "POST", "/api/manual/1/extend",
     '{"days": NaN, "justification": "suspect vehicle still sought"}', None, 422, "days must be a whole", 0),
    ("technician views a hit", "tech.tim", "GET", "/api/hits/{hit}", None, None, 403, "(hits.view)", 0),
]


@pytest.mark.parametrize("user, method, path, body, headers, status, words, audited",
                         [pytest.param(*case[1:], id=case[0]) for case in FIXED + PINNED])
def test_bad_input_is_a_clear_refusal_that_writes_nothing(daemon, user, method, path, body, headers, status,
                                                          words, audited):
    before = _counts(daemon)
    path = path.format(hit=daemon.hit_id, read=daemon.read_id)
    got, _, text = _request(daemon, method, path, body, headers, user)
    assert (got, words in text) == (status, True), text[:300]
    assert "Traceback" not in text and 'File "' not in text
    after = _counts(daemon)
    assert after == {**before, "audit_log": before["audit_log"] + audited}
    if audited and status == 403:
        event, detail = daemon.rows("SELECT event, detail FROM audit_log ORDER BY seq DESC LIMIT 1")[0]
        assert event == "access_refused" and json.loads(detail)["terms"] == {"screen": path}


def test_a_double_submitted_disposition_is_recorded_once(daemon):
    path = f"/api/hits/{daemon.hit_id}/disposition"
    first = _request(daemon, "POST", path, {"disposition": "misread"}, user="ofc.ray")
    assert first[0] == 200 and json.loads(first[2])["ok"] is True
    again = _request(daemon, "POST", path, {"disposition": "misread"}, user="ofc.ray")
    assert again[0] == 422 and "already has disposition 'misread'" in again[2]
    assert daemon.rows("SELECT disposition FROM hit_dispositions WHERE hit_id = ?", daemon.hit_id) == [("misread",)]


def test_a_write_from_the_screens_own_page_passes_the_origin_check(daemon):
    own = f"http://127.0.0.1:{daemon.unit.screen.port}"
    got, _, body = _request(daemon, "POST", "/api/search", {"purpose": "criminal investigation", "plate": "6TRK915"},
                            {"Origin": own}, user="ofc.ray")
    assert got == 200 and json.loads(body)["ok"] is True
